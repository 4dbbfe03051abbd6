"""CloudTrail data events of the model registry (``audit.cloudtrail_data_events`` in the deploy file).

A trail ``maaskit-<stage>-registry`` with no management events and one S3 data-event
selector: every object-level read and write of the registry bucket (``GetObject``, ``PutObject``,
``DeleteObject``, ...) with the caller, source IP and time. Its log files go to a bucket of their own:
SSE-KMS with the trail's key (rotation on), versioned, TLS only, public access blocked, server access
logs to the registry's log bucket, expiring after ``audit.retention_days``; log file validation is on.
Attributes: ``key``, ``bucket``, ``trail``.
"""

from __future__ import annotations

from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.constructs.sealed_bucket import sealed_bucket
from infra.names import registry_trail_name

__all__ = ["RegistryTrail"]


class RegistryTrail(Construct):
    """The registry bucket's data-event trail and its encrypted, versioned, access-logged bucket."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        registry: s3.IBucket,
        access_logs: s3.IBucket,
        retention_days: int = 365,
    ) -> None:
        super().__init__(scope, construct_id)
        name = registry_trail_name(stage)
        self.key, self.bucket = sealed_bucket(
            self,
            alias=f"alias/{name}-trail",
            description=f"maaskit {stage}: CloudTrail log files of the model registry's data events",
            access_logs=access_logs,
            access_log_prefix="registry-trail/",
            expire_days=retention_days,
        )
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            trail_name=name,
            bucket=self.bucket,
            encryption_key=self.key,
            enable_file_validation=True,
            # Multi-region (checkov CKV_AWS_67) costs nothing more: no management events are selected, and the
            # one data-event selector matches the registry bucket alone. CloudTrail requires global service
            # events on a multi-region trail; they are management events, so none are recorded either.
            is_multi_region_trail=True,
            include_global_service_events=True,
            management_events=cloudtrail.ReadWriteType.NONE,
            send_to_cloud_watch_logs=False,
        )
        self.trail.add_s3_event_selector(
            [cloudtrail.S3EventSelector(bucket=registry)],
            read_write_type=cloudtrail.ReadWriteType.ALL,
            include_management_events=False,
        )
