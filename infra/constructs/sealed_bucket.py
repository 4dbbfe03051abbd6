"""The one shape of a bucket maaskit writes audit and capture data into, and its own KMS key.

SSE-KMS with a customer key of its own (rotation on, retained), bucket keys on, TLS only, public access
blocked, versioned (noncurrent versions expire after a day), server access logs to the stage's log
bucket, and retained when the stack goes. Used by data capture and the registry's CloudTrail trail.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

__all__ = ["sealed_bucket"]


def sealed_bucket(
    scope: Construct,
    *,
    alias: str,
    description: str,
    access_logs: s3.IBucket,
    access_log_prefix: str,
    expire_days: int | None = None,
) -> tuple[kms.Key, s3.Bucket]:
    """``scope``'s ``Key`` and ``Bucket`` (those construct ids); objects expire after ``expire_days`` if given."""
    key = kms.Key(
        scope,
        "Key",
        alias=alias,
        description=description,
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.RETAIN,
    )
    expiration = Duration.days(expire_days) if expire_days is not None else None
    bucket = s3.Bucket(
        scope,
        "Bucket",
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        versioned=True,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=access_log_prefix,
        lifecycle_rules=[s3.LifecycleRule(expiration=expiration, noncurrent_version_expiration=Duration.days(1))],
        removal_policy=RemovalPolicy.RETAIN,
    )
    return key, bucket
