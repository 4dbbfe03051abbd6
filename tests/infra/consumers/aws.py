"""AWS state the consumer tests start from: the usage plans a deploy of ``auth: keys`` creates."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from infra.consumers_config import ConsumersConfig, plan_resource_name

REGION = "eu-west-1"
_PERIOD = {"day": "DAY", "week": "WEEK", "month": "MONTH"}


def create_plans(session: Any, stage: str, consumers: ConsumersConfig, api_id: str | None = None) -> dict[str, str]:
    """The usage plans of ``consumers`` as CloudFormation would make them (name, throttle, quota, stage)."""
    client = session.client("apigateway")
    ids = {}
    for name, plan in consumers.plans.items():
        extra: dict[str, Any] = {}
        if plan.quota is not None:
            extra["quota"] = {"limit": plan.quota.limit, "period": _PERIOD[plan.quota.period]}
        if api_id is not None:
            extra["apiStages"] = [{"apiId": api_id, "stage": stage}]
        if name == consumers.default_plan:
            extra["tags"] = {"maaskit:default-plan": "true"}
        made = client.create_usage_plan(
            name=plan_resource_name(stage, name),
            throttle={"rateLimit": plan.rate_limit, "burstLimit": plan.burst_limit},
            **extra,
        )
        ids[name] = made["id"]
    return ids


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "MAASKIT_STAGE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    yield


def session() -> Any:
    return boto3.session.Session(region_name=REGION)
