"""boto3 sessions and the translation of AWS failures into :mod:`infra.ops.errors`.

Endpoints come from boto3's own configuration, so ``AWS_ENDPOINT_URL`` (or a per-service
``AWS_ENDPOINT_URL_<SERVICE>``) points every call at a local moto server in tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bundle import names

__all__ = ["ENV_REGION", "ENV_STAGE", "DEFAULT_STAGE", "aws_errors", "error_code", "make_session", "resolve_stage"]

ENV_STAGE = names.STAGE
ENV_REGION = "AWS_REGION"
DEFAULT_STAGE = "dev"


def resolve_stage(stage: str | None) -> str:
    """Stage name: argument > ``MAASKIT_STAGE`` > ``dev``."""
    return stage or os.environ.get(ENV_STAGE) or DEFAULT_STAGE


def make_session(region: str | None = None, profile: str | None = None) -> Any:
    """A boto3 session; region from the argument, else boto3's usual chain (env, profile)."""
    from infra.ops.errors import ConfigurationError

    try:
        import boto3
    except ImportError:
        raise ConfigurationError("release operations need boto3: pip install 'maaskit[aws]'") from None

    try:
        session = boto3.session.Session(region_name=region, profile_name=profile)
    except Exception as exc:  # botocore.exceptions.ProfileNotFound and friends
        raise ConfigurationError(f"cannot create an AWS session: {exc}") from None
    if session.region_name is None:
        raise ConfigurationError("no AWS region: pass --region or set AWS_REGION (e.g. export AWS_REGION=eu-west-1)")
    return session


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


@contextmanager
def aws_errors(action: str, not_found: Callable[[str], str] | None = None) -> Iterator[None]:
    """Turn botocore failures inside the block into OpsError subclasses naming ``action``.

    ``not_found`` maps an error code to a message when the code means "does not exist"
    (return '' for codes that do not), so callers keep their own wording.
    """
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    from infra.ops.errors import AwsCallError, ConfigurationError, NotFoundError

    try:
        yield
    except NoCredentialsError:
        raise ConfigurationError(
            f"{action}: no AWS credentials found; configure a profile (--profile) or export AWS_ACCESS_KEY_ID"
        ) from None
    except ClientError as exc:
        code = error_code(exc)
        message = not_found(code) if not_found else ""
        if message:
            raise NotFoundError(message) from None
        detail = exc.response.get("Error", {}).get("Message", str(exc))
        if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}:
            raise ConfigurationError(f"{action}: access denied ({detail}); check the role's permissions") from None
        raise AwsCallError(f"{action} failed: {code}: {detail}") from None
    except BotoCoreError as exc:
        raise AwsCallError(f"{action} failed: {exc}") from None
