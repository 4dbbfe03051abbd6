"""Which S3 bucket is the model registry: ``--bucket`` > ``MAASKIT_REGISTRY_BUCKET`` > SSM."""

from __future__ import annotations

import os
from typing import Any

from bundle import names
from infra.names import registry_parameter
from infra.ops.aws import aws_errors, resolve_stage
from infra.ops.errors import ConfigurationError, NotFoundError

__all__ = ["ENV_BUCKET", "resolve_bucket"]

ENV_BUCKET = names.REGISTRY_BUCKET


def resolve_bucket(session: Any, *, bucket: str | None = None, stage: str | None = None) -> str:
    """The registry bucket: argument, else env ``MAASKIT_REGISTRY_BUCKET``, else the stage's SSM parameter.

    The CDK app writes the bucket name to ``/maaskit/<stage>/registry-bucket`` when it deploys the stage.
    """
    if bucket:
        return bucket
    from_env = os.environ.get(ENV_BUCKET, "").strip()
    if from_env:
        return from_env
    stage_name = resolve_stage(stage)
    name = registry_parameter(stage_name)

    def missing(code: str) -> str:
        if code != "ParameterNotFound":
            return ""
        return (
            f"no registry bucket for stage {stage_name!r}: SSM parameter {name} does not exist. "
            f"Deploy the stage first, or pass --bucket / set {ENV_BUCKET}"
        )

    try:
        with aws_errors(f"reading SSM parameter {name}", missing):
            value = session.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    except NotFoundError as exc:
        raise ConfigurationError(str(exc)) from None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"SSM parameter {name} is empty; it should hold the registry bucket name")
    return value.strip()
