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
