"""Deploy-file schema for consumers: ``auth: keys`` usage plans, and opt-in data capture.

Wired into :mod:`infra.config` (``api.consumers`` and ``endpoints[].capture``); kept apart so the
consumer pieces (construct, authorizer, key commands, capture, drift) share one validated model.
Every model is strict: an unknown key is refused and the error names it.

```yaml
api:
  auth: {type: keys}
  consumers:
    default_plan: standard
    plans:
      standard: {rate_limit: 10, burst_limit: 20, quota: {limit: 10000, period: day}}
      partner:  {rate_limit: 50, burst_limit: 100, quota: {limit: 1000000, period: month}}
endpoints:
  - name: iris
    bundle: bundles/iris-1.0.0
    capture: {sample: 0.05, redact: [email, inputs.ssn]}
```
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "AUTH_TYPES",
    "PLAN_NAME",
    "AuthType",
    "CaptureConfig",
    "ConsumersConfig",
    "PlanConfig",
    "QuotaConfig",
    "auth_conflict",
    "plan_resource_name",
]

#: How callers authenticate, stage-wide (``api.auth.type``) or per endpoint (``endpoints[].auth``).
AuthType = Literal["iam", "api_key", "jwt", "keys"]
AUTH_TYPES: tuple[str, ...] = ("iam", "api_key", "jwt", "keys")

#: Plan names become part of usage plan names (``maaskit-<stage>-<plan>``) and CLI arguments.
PLAN_NAME = r"^[a-z][a-z0-9-]{0,31}$"
#: A redacted field: a key name (removed at any depth) or a dotted path from the document's root.
_REDACT = r"^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuotaConfig(_Strict):
    """Requests one consumer may make per ``period`` (API Gateway counts them per API key)."""

    limit: int = Field(ge=1, description="Requests per period.")
    period: Literal["day", "week", "month"] = "day"


class PlanConfig(_Strict):
    """One usage plan: steady rate and burst per consumer key, and an optional quota."""

    rate_limit: float = Field(default=10, gt=0, description="Requests per second per key.")
    burst_limit: int = Field(default=20, ge=1, description="Burst per key (token bucket size).")
    quota: QuotaConfig | None = Field(default=None, description="None: no quota, only the rate.")
    description: str = Field(default="", max_length=200)


def _default_plans() -> dict[str, PlanConfig]:
    return {"standard": PlanConfig()}


class ConsumersConfig(_Strict):
    """Usage plans of ``auth: keys``; keys are made with ``maaskit keys create --plan P``."""

    plans: dict[str, PlanConfig] = Field(default_factory=_default_plans, min_length=1)
    default_plan: str = Field(default="standard", description="The plan of `maaskit keys create` without --plan.")
    key_cache_ttl_s: int = Field(
        default=60,
        ge=0,
        le=3600,
        description="How long the authorizer trusts its copy of the stage's keys: a revoked key may work this long.",
    )

    @model_validator(mode="after")
    def _plans_named_and_default_exists(self) -> ConsumersConfig:
        for name in self.plans:
            if not re.fullmatch(PLAN_NAME, name):
                raise ValueError(
                    f"plan name {name!r} must be 1-32 lowercase letters, digits or '-', starting with a letter"
                )
        if self.default_plan not in self.plans:
            raise ValueError(
                f"default_plan {self.default_plan!r} is not one of the plans ({', '.join(sorted(self.plans))}); "
                "add it under plans or pick one of those"
            )
        return self


class CaptureConfig(_Strict):
    """Opt-in data capture: a sample of requests and answers written to a KMS-encrypted S3 prefix."""

    sample: float = Field(gt=0, le=1, description="Share of requests captured (0.05 = one in twenty).")
    redact: list[str] = Field(
        default_factory=list, description="Key names (removed at any depth) or dotted paths removed before writing."
    )
    retention_days: int = Field(default=90, ge=1, le=3650, description="Captured objects expire after this.")
    drift_psi_threshold: float = Field(
        default=0.2, gt=0, description="A feature whose population stability index reaches this is flagged."
    )

    @model_validator(mode="after")
    def _redactions_are_fields(self) -> CaptureConfig:
        for item in self.redact:
            if not re.fullmatch(_REDACT, item):
                raise ValueError(f"redact entry {item!r} must be a key name or a dotted path such as inputs.email")
        return self


def auth_conflict(default: str, per_endpoint: dict[str, str], user_pool_arn: str | None) -> str | None:
    """Why these auth modes cannot share one REST API (None when they can).

    ``default``: ``api.auth.type`` (also the auth of ``GET /models``); ``per_endpoint``: endpoint -> its
    ``auth`` where set. ``api_key`` and ``keys`` exclude each other: the API's ``apiKeySource`` is HEADER
    for one and AUTHORIZER for the other, for every method at once. ``jwt`` needs the stage's user pool.
    """
    users: dict[str, list[str]] = {}
    for where, mode in [("api.auth.type", default), *((f"endpoints.{n}.auth", m) for n, m in per_endpoint.items())]:
        users.setdefault(mode, []).append(where)
    if "api_key" in users and "keys" in users:
        return (
            f"auth api_key ({', '.join(users['api_key'])}) and auth keys ({', '.join(users['keys'])}) cannot share "
            "one API: its key source is the x-api-key header for one and the key authorizer for the other, for every "
            "method; use keys for both (consumer keys are accepted as x-api-key too)"
        )
    if "jwt" in users and user_pool_arn is None:
        return (
            f"auth jwt ({', '.join(users['jwt'])}) needs api.auth.user_pool_arn (the Cognito user pool that issues "
            "the tokens), also when the stage default is another type"
        )
    return None


def plan_resource_name(stage: str, plan: str) -> str:
    """The usage plan's name in API Gateway: ``maaskit-<stage>-<plan>`` (the key commands look it up)."""
    return f"maaskit-{stage}-{plan}"
