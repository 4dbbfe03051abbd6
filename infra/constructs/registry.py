"""The stage's bundle registry: a versioned, encrypted, TLS-only S3 bucket named in SSM for the release tooling."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.nag import acknowledge
from infra.names import registry_parameter

__all__ = ["Registry"]


class Registry(Construct):
    """Attributes: ``bucket`` (the registry), ``access_logs`` (its server access log bucket), ``parameter``."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: str) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This bucket is the server access log destination of the registry; logging it into itself would loop.",
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            versioned=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="registry/",
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(90))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.parameter = ssm.StringParameter(
            self,
            "BucketName",
            parameter_name=registry_parameter(stage),
            string_value=self.bucket.bucket_name,
            description=f"maaskit bundle registry bucket of stage {stage}",
        )
        CfnOutput(self, "RegistryBucket", value=self.bucket.bucket_name, description="maaskit bundle registry")
