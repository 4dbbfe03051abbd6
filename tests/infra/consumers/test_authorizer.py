"""The key authorizer in-process against moto: Bearer and x-api-key, unknown, revoked, cache, fail closed."""

from __future__ import annotations

import json

import pytest
from moto import mock_aws

from infra.authorizer import handler as authorizer
from infra.authorizer.handler import KeyDirectory, Unauthorized, authorize, bearer_key
from infra.consumers_config import ConsumersConfig
from infra.ops.keys import create_key, revoke_key
from tests.infra.consumers.aws import create_plans, session

pytestmark = pytest.mark.usefixtures("fake_credentials")
METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/POST/models/iris/predict"


def _event(**headers: str) -> dict:
    return {"type": "REQUEST", "methodArn": METHOD_ARN, "headers": headers, "requestContext": {"stage": "dev"}}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bearer_wins_over_x_api_key_and_other_schemes_are_ignored() -> None:
    assert bearer_key(_event(Authorization="Bearer abc", **{"x-api-key": "xyz"})) == "abc"
    assert bearer_key(_event(authorization="bearer  abc ")) == "abc"
    assert bearer_key(_event(Authorization="Basic abc", **{"X-Api-Key": "xyz"})) == "xyz"
    assert bearer_key(_event(Authorization="Bearer ")) is None
    assert bearer_key({"headers": None}) is None


@mock_aws
def test_a_consumer_key_is_the_usage_key_and_the_context_names_it_by_id() -> None:
    aws = session()
    create_plans(aws, "dev", ConsumersConfig())
    new = create_key(aws, "dev", "alice", "standard")
    directory = KeyDirectory(aws.client("apigateway"), "maaskit-dev-", ttl_s=60)
    for event in (_event(Authorization=f"Bearer {new.value}"), _event(**{"x-api-key": new.value})):
        answer = authorize(event, directory)
        assert answer["usageIdentifierKey"] == new.value
        assert answer["principalId"] == new.key.key_id
        assert answer["policyDocument"]["Statement"] == [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}
        ]
        assert answer["context"] == {"consumer": "alice", "apiKeyId": new.key.key_id, "plan": "standard"}
        assert new.value not in json.dumps(answer["context"])


@mock_aws
def test_missing_unknown_and_other_stage_keys_are_unauthorized() -> None:
    aws = session()
    create_plans(aws, "dev", ConsumersConfig())
    create_plans(aws, "prod", ConsumersConfig())
    prod = create_key(aws, "prod", "alice", "standard")
    directory = KeyDirectory(aws.client("apigateway"), "maaskit-dev-", ttl_s=60)
    for event in (_event(), _event(Authorization="Bearer not-a-key"), _event(Authorization=f"Bearer {prod.value}")):
        with pytest.raises(Unauthorized, match="^Unauthorized$"):
            authorize(event, directory)


@mock_aws
def test_a_revoked_key_is_denied_once_the_cache_expires() -> None:
    aws = session()
    create_plans(aws, "dev", ConsumersConfig())
    new = create_key(aws, "dev", "bob", "standard")
    clock = Clock()
    directory = KeyDirectory(aws.client("apigateway"), "maaskit-dev-", ttl_s=60, clock=clock)
    event = _event(Authorization=f"Bearer {new.value}")
    assert authorize(event, directory)["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    revoke_key(aws, "dev", "bob")
    clock.now = 59.0
    assert authorize(event, directory)["policyDocument"]["Statement"][0]["Effect"] == "Allow"  # cached
    clock.now = 60.0
    denied = authorize(event, directory)
    assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "usageIdentifierKey" not in denied and "context" not in denied


class _Broken:
    def get_paginator(self, name: str):
        raise ConnectionError("apigateway unreachable")


def test_a_failing_lookup_raises_and_never_allows() -> None:
    directory = KeyDirectory(_Broken(), "maaskit-dev-", ttl_s=60)
    with pytest.raises(ConnectionError):  # API Gateway answers 500 AUTHORIZER_FAILURE: the request stays out
        authorize(_event(Authorization="Bearer anything"), directory)
    with pytest.raises(KeyError):  # an event without methodArn cannot be allowed either
        directory.lookup = lambda value: authorizer.KeyRecord("id", "c", "p", True)  # type: ignore[method-assign]
        authorize({"headers": {"x-api-key": "k"}}, directory)


@mock_aws
def test_the_lambda_entry_point_reads_its_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    aws = session()
    create_plans(aws, "dev", ConsumersConfig())
    new = create_key(aws, "dev", "carol", "standard")
    monkeypatch.setenv("MAASKIT_KEY_PREFIX", "maaskit-dev-")
    monkeypatch.setenv("MAASKIT_KEY_CACHE_TTL_S", "5")
    monkeypatch.setattr(authorizer, "_DIRECTORY", None)
    answer = authorizer.handler(_event(Authorization=f"Bearer {new.value}"), None)
    assert answer["context"]["consumer"] == "carol"
    assert authorizer._DIRECTORY is not None and authorizer._DIRECTORY.ttl_s == 5.0
