"""The consumer and capture sections of the deploy file: strict, unknown keys refused, errors name the key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.consumers_config import CaptureConfig, ConsumersConfig, PlanConfig, plan_resource_name


def _error(model: type, data: dict) -> tuple[tuple, str, str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    first = info.value.errors()[0]
    return first["loc"], first["type"], first["msg"]


def test_defaults_one_standard_plan() -> None:
    config = ConsumersConfig()
    assert list(config.plans) == ["standard"] and config.default_plan == "standard" and config.key_cache_ttl_s == 60
    assert config.plans["standard"] == PlanConfig(rate_limit=10, burst_limit=20, quota=None)
    assert plan_resource_name("dev", "standard") == "maaskit-dev-standard"


def test_plans_with_quotas() -> None:
    config = ConsumersConfig.model_validate(
        {"default_plan": "free", "plans": {"free": {"rate_limit": 1, "burst_limit": 2, "quota": {"limit": 100}},
                                           "partner": {"quota": {"limit": 10**6, "period": "month"}}}}
    )  # fmt: skip
    assert config.plans["free"].quota is not None and config.plans["free"].quota.period == "day"
    assert config.plans["partner"].quota is not None and config.plans["partner"].quota.period == "month"


def test_unknown_keys_are_refused_by_name() -> None:
    assert _error(ConsumersConfig, {"plans": {"gold": {"rate": 5}}, "default_plan": "gold"})[:2] == (
        ("plans", "gold", "rate"), "extra_forbidden",
    )  # fmt: skip
    assert _error(ConsumersConfig, {"plan": {}})[:2] == (("plan",), "extra_forbidden")
    assert _error(CaptureConfig, {"sample": 0.1, "redacted": ["x"]})[:2] == (("redacted",), "extra_forbidden")


def test_bad_values_say_what_to_do() -> None:
    _, _, message = _error(ConsumersConfig, {"plans": {"gold": {}}})
    assert "default_plan 'standard' is not one of the plans (gold)" in message
    _, _, message = _error(ConsumersConfig, {"plans": {"Gold Plan": {}}, "default_plan": "Gold Plan"})
    assert "plan name 'Gold Plan'" in message
    assert (
        _error(ConsumersConfig, {"plans": {"p": {"quota": {"limit": 5, "period": "year"}}}, "default_plan": "p"})[1]
        == "literal_error"
    )
    assert _error(CaptureConfig, {"sample": 0})[0] == ("sample",)
    assert _error(CaptureConfig, {"sample": 1.5})[0] == ("sample",)
    assert "dotted path" in _error(CaptureConfig, {"sample": 0.1, "redact": ["a b"]})[2]
    assert _error(CaptureConfig, {})[1] == "missing"


# --- per-endpoint auth, SageMaker capture, logs, audit and drift schedule (the whole deploy file) -----------

POOL = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Abc123"


def _deploy(**top: object) -> dict[str, object]:
    endpoints = top.pop("endpoints", [{"name": "iris", "bundle": "b"}])
    return {"endpoints": endpoints, **top}


def test_an_endpoint_picks_its_own_auth() -> None:
    from infra.config import parse_config

    config = parse_config(
        _deploy(endpoints=[{"name": "iris", "bundle": "b", "auth": "keys"}, {"name": "gpu", "bundle": "g"}])
    )
    assert (
        config.api.auth.type == "iam" and config.endpoint("iris").auth == "keys" and config.endpoint("gpu").auth is None
    )
    jwt = parse_config(
        _deploy(endpoints=[{"name": "iris", "bundle": "b", "auth": "jwt"}], api={"auth": {"user_pool_arn": POOL}})
    )
    assert jwt.endpoint("iris").auth == "jwt"


def test_impossible_auth_combinations_are_refused_at_read() -> None:
    from infra.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"auth api_key \(api.auth.type\) and auth keys \(endpoints.iris.auth\)"):
        parse_config(
            _deploy(endpoints=[{"name": "iris", "bundle": "b", "auth": "keys"}], api={"auth": {"type": "api_key"}})
        )
    with pytest.raises(ConfigError, match=r"use keys for both"):
        parse_config(
            _deploy(
                endpoints=[
                    {"name": "a", "bundle": "b", "auth": "keys"},
                    {"name": "c", "bundle": "b", "auth": "api_key"},
                ]
            )
        )
    with pytest.raises(ConfigError, match=r"auth jwt \(endpoints.iris.auth\) needs api.auth.user_pool_arn"):
        parse_config(_deploy(endpoints=[{"name": "iris", "bundle": "b", "auth": "jwt"}]))
    with pytest.raises(
        ConfigError, match=r"endpoints.0.auth: got 'sigv4'; allowed values: 'iam', 'api_key', 'jwt' or 'keys'"
    ):
        parse_config(_deploy(endpoints=[{"name": "iris", "bundle": "b", "auth": "sigv4"}]))


def test_redaction_is_refused_on_a_sagemaker_endpoint() -> None:
    from infra.config import ConfigError, parse_config

    endpoint = {"name": "gpu", "bundle": "s3://b/k.tar.gz", "target": "sagemaker", "capture": {"sample": 0.1}}
    assert parse_config(_deploy(endpoints=[endpoint])).endpoint("gpu").capture is not None
    with pytest.raises(ConfigError, match=r"DataCaptureConfig stores whole request and answer bodies"):
        parse_config(_deploy(endpoints=[{**endpoint, "capture": {"sample": 0.1, "redact": ["email"]}}]))


def test_logs_audit_and_drift_settings() -> None:
    from infra.config import ConfigError, parse_config

    default = parse_config(_deploy())
    assert default.logs.kms is False and not default.audit.cloudtrail_data_events
    assert default.drift.schedule == "rate(1 day)"
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    config = parse_config(
        _deploy(logs={"kms": key}, audit={"cloudtrail_data_events": True}, drift={"schedule": "cron(0 3 * * ? *)"})
    )
    assert (
        config.logs.kms == key and config.audit.cloudtrail_data_events and str(config.drift.schedule).startswith("cron")
    )
    assert parse_config(_deploy(drift={"schedule": None})).drift.schedule is None
    with pytest.raises(ConfigError, match=r"logs.kms: .*must be true, false or a KMS key ARN"):
        parse_config(_deploy(logs={"kms": "alias/mine"}))
    with pytest.raises(ConfigError, match=r"drift.schedule: .*EventBridge expression such as rate\(1 day\)"):
        parse_config(_deploy(drift={"schedule": "daily"}))
    with pytest.raises(ConfigError, match=r"audit.cloudtrail: unknown key"):
        parse_config(_deploy(audit={"cloudtrail": True}))
