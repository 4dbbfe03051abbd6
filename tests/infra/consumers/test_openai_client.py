"""Done-when of issue 24 (keys): the official ``openai`` client and a curl-style Bearer call reach a model
through the synthesized route table with a consumer key, the authorizer running in-process against moto;
unknown, revoked and over-quota keys are refused in the OpenAI error shape, and a failing authorizer lets
nothing in."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from moto import mock_aws

from infra.authorizer.handler import KeyDirectory, authorize
from infra.consumers_config import ConsumersConfig, PlanConfig, QuotaConfig
from infra.ops.keys import create_key, revoke_key
from tests.infra.api_emulator import routes_of
from tests.infra.consumers.aws import create_plans, session
from tests.infra.consumers.keyed_api import KeyedApi
from tests.infra.consumers.models import embedder_bundle, lambda_handler
from tests.infra.consumers.stage import KeyedStage, synthesize_keyed_stage

pytestmark = pytest.mark.usefixtures("fake_credentials")
PLANS = ConsumersConfig(plans={"standard": PlanConfig(), "tiny": PlanConfig(quota=QuotaConfig(limit=2, period="day"))})
BASE = "https://abc123.execute-api.eu-west-1.amazonaws.com/dev"


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> KeyedStage:
    return synthesize_keyed_stage(tmp_path_factory.mktemp("keyed"), PLANS)


@pytest.fixture(scope="module")
def model_handler():
    return lambda_handler(embedder_bundle())


@pytest.fixture
def api(stage: KeyedStage, model_handler) -> Iterator[KeyedApi]:
    with mock_aws():
        aws = session()
        create_plans(aws, "dev", PLANS)
        directory = KeyDirectory(aws.client("apigateway"), "maaskit-dev-", ttl_s=0)  # revocations seen at once
        yield KeyedApi(
            stage="dev", routes=routes_of(stage.template), lambdas={"embedder": model_handler}, endpoints={},
            template=stage.template, authorizer=lambda event, context: authorize(event, directory),
            apigateway=aws.client("apigateway"),
        )  # fmt: skip


def _client(api: KeyedApi, key: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{BASE}/models/embedder/v1", api_key=key, http_client=httpx.Client(transport=api), max_retries=0
    )


def _log_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"request_id"' in line]


def test_the_openai_client_calls_a_model_with_a_consumer_key(api: KeyedApi, capsys: pytest.CaptureFixture[str]) -> None:
    new = create_key(session(), "dev", "alice", "standard")
    answer = _client(api, new.value).embeddings.create(model="embedder", input=["hello consumers", "a second text"])
    assert len(answer.data) == 2 and len(answer.data[0].embedding) > 0
    assert api.calls[-1].status == 200 and api.calls[-1].route == "/models/embedder/{proxy+}"
    out = capsys.readouterr().out
    (line,) = _log_lines(out)
    assert line["consumer"] == "alice" and line["api_key_id"] == new.key.key_id and line["caller_type"] == "api_key"
    assert line["plan"] == "standard" and line["stage"] == "dev" and line["route"] == "/models/embedder/{proxy+}"
    assert new.value not in out  # the key itself is never logged


def test_curl_style_bearer_and_x_api_key_calls(api: KeyedApi) -> None:
    new = create_key(session(), "dev", "bob", "standard")
    with httpx.Client(transport=api, base_url=BASE) as http:
        bearer = http.get(
            "/models/embedder", headers={"Authorization": f"Bearer {new.value}", "Accept": "application/json"}
        )
        header = http.post(
            "/models/embedder/v1/embeddings",
            headers={"x-api-key": new.value},
            json={"input": "hi", "model": "embedder"},
        )
        anonymous = http.get("/models/embedder", headers={"Accept": "application/json"})
    assert bearer.status_code == 200 and bearer.json()["name"] == "embedder"
    assert header.status_code == 200 and header.json()["object"] == "list"
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "invalid_api_key"


def test_unknown_and_revoked_keys_are_refused_in_the_openai_shape(api: KeyedApi) -> None:
    with pytest.raises(openai.AuthenticationError) as unknown:
        _client(api, "sk-not-a-key").embeddings.create(model="embedder", input="x")
    assert unknown.value.status_code == 401
    assert unknown.value.code == "invalid_api_key" and unknown.value.type == "authentication_error"
    new = create_key(session(), "dev", "carol", "standard")
    client = _client(api, new.value)
    client.embeddings.create(model="embedder", input="before")
    revoke_key(session(), "dev", "carol")
    with pytest.raises(openai.PermissionDeniedError) as revoked:
        client.embeddings.create(model="embedder", input="after")
    assert revoked.value.status_code == 403 and revoked.value.code == "key_revoked"
    assert "not authorized" in str(revoked.value.message)


def test_an_over_quota_consumer_gets_a_429(api: KeyedApi) -> None:
    new = create_key(session(), "dev", "dave", "tiny")
    client = _client(api, new.value)
    for _ in range(2):
        client.embeddings.create(model="embedder", input="within quota")
    with pytest.raises(openai.RateLimitError) as over:
        client.embeddings.create(model="embedder", input="over quota")
    assert over.value.status_code == 429 and over.value.code == "insufficient_quota"


def test_a_failing_authorizer_lets_nothing_in(api: KeyedApi) -> None:
    new = create_key(session(), "dev", "erin", "standard")

    def broken(event, context):
        raise ConnectionError("apigateway unreachable")

    api.authorizer = broken
    calls_before = len([c for c in api.calls if c.route is not None])
    with pytest.raises(openai.InternalServerError) as failed:
        _client(api, new.value).embeddings.create(model="embedder", input="x")
    assert failed.value.status_code == 500 and failed.value.code == "authorizer_failure"
    assert len([c for c in api.calls if c.route is not None]) == calls_before  # the model was never called
