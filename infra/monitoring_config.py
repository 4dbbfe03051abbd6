"""Deploy-file schema for the stage's log encryption, registry audit trail and scheduled drift check.

Wired into :mod:`infra.config` as top-level keys; every model is strict (an unknown key is refused and
the error names it).

```yaml
logs: {kms: true}                        # or the ARN of a key you manage; default false (CloudWatch's keys)
audit: {cloudtrail_data_events: true}    # S3 object-level events of the model registry bucket
drift: {schedule: rate(1 day)}           # the drift check of every captured model; null: no schedule
```
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["KMS_KEY_ARN", "SCHEDULE", "AuditConfig", "DriftConfig", "LogsConfig"]

KMS_KEY_ARN = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-fA-F-]{36}$"
#: EventBridge schedule expressions: ``rate(<n> <unit>)`` or ``cron(<6 fields>)``.
SCHEDULE = r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\((\S+ ){5}\S+\))$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogsConfig(_Strict):
    """Encryption of the stage's log groups (API access and execution logs, functions, hooks, authorizer,
    drift job, SageMaker endpoints). Retention stays per group (``*.log_retention_days``)."""

    kms: bool | str = Field(
        default=False,
        description="false: CloudWatch Logs' own keys; true: a customer-managed key made by the stack "
        "(rotation on); an ARN: your key (its policy must let logs.<region>.amazonaws.com use it).",
    )

    @field_validator("kms")
    @classmethod
    def _key_arn(cls, value: bool | str) -> bool | str:
        if isinstance(value, str) and not re.fullmatch(KMS_KEY_ARN, value):
            raise ValueError(
                f"kms {value!r} must be true, false or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>); "
                "an alias cannot be used for log groups"
            )
        return value


class AuditConfig(_Strict):
    """Optional audit trail of the model registry."""

    cloudtrail_data_events: bool = Field(
        default=False,
        description="A CloudTrail trail logging S3 object-level events (reads and writes) of the registry "
        "bucket into its own encrypted, versioned, access-logged bucket.",
    )
    retention_days: int = Field(default=365, ge=1, le=3650, description="Trail log files expire after this.")


class DriftConfig(_Strict):
    """The scheduled drift check of every model with ``capture`` (it feeds the drift alarms)."""

    schedule: str | None = Field(
        default="rate(1 day)",
        description="EventBridge schedule expression, rate(...) or cron(...); null: no scheduled check "
        "(run maaskit drift yourself).",
    )
    records: int = Field(default=10_000, ge=100, le=100_000, description="Newest captured records compared.")

    @field_validator("schedule")
    @classmethod
    def _expression(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(SCHEDULE, value):
            raise ValueError(
                f"schedule {value!r} must be an EventBridge expression such as rate(1 day), rate(6 hours) or "
                "cron(0 3 * * ? *)"
            )
        return value
