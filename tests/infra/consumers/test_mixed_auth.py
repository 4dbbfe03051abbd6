"""One API, two auth modes side by side (``endpoints[].auth``): ``embedder`` takes consumer keys, ``iris`` stays
IAM-only, the stage default. The real ModelApi is synthesized (cdk-nag on) and run by the route-table emulator
with the key authorizer in-process (moto) and SigV4 enforced on the IAM methods: each model accepts its own
callers and refuses the other's, in API Gateway's own answers, before any model code runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from aws_cdk import App, Stack
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto import mock_aws

from infra.authorizer.handler import KeyDirectory, authorize
from infra.config import ApiConfig
from infra.constructs.api import ModelApi, ModelApiProps
from infra.consumers_config import ConsumersConfig
from infra.nag import acknowledge, enable_nag
from infra.ops.keys import create_key
from tests.infra.api_emulator import routes_of
from tests.infra.conftest import cdk_context
from tests.infra.consumers.aws import REGION, create_plans, session
from tests.infra.consumers.keyed_api import KeyedApi
from tests.infra.consumers.models import embedder_bundle, iris_bundle, lambda_handler
from tests.infra.consumers.stage import _scaffold_function

pytestmark = pytest.mark.usefixtures("fake_credentials")
BASE = "https://abc123.execute-api.eu-west-1.amazonaws.com/dev"
ACCESS_KEY = "ASIAEXAMPLEMLAPP"
ROLE = "arn:aws:sts::123456789012:assumed-role/ml-app/run-7"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    outdir = tmp_path_factory.mktemp("mixed")
    app = App(context=cdk_context(), outdir=str(outdir))
    stack = Stack(app, "Mixed", env={"account": "123456789012", "region": REGION})
    functions = {name: _scaffold_function(stack, f"Model{name.capitalize()}") for name in ("embedder", "iris")}
    ModelApi(
        stack,
        "Api",
        ModelApiProps(stage="dev", config=ApiConfig(), lambda_models=dict(functions), auth={"embedder": "keys"}),
    )
    for function in functions.values():
        acknowledge(function, "AwsSolutions-IAM5", "test scaffolding: inline stand-in model function")
    acknowledge(
        stack,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
        "API Gateway's account logging role (acknowledged by MaaskitStack in the real stack)",
    )
    enable_nag(app)
    assembly = app.synth()
    report = outdir / "validation-report.json"
    violations = json.loads(report.read_text()).get("pluginReports", []) if report.is_file() else []
    assert all(not plugin.get("violations") for plugin in violations), violations
    template: dict[str, Any] = assembly.get_stack_by_name(stack.stack_name).template
    return template


@pytest.fixture(scope="module")
def handlers() -> dict[str, Any]:
    return {"embedder": lambda_handler(embedder_bundle()), "iris": lambda_handler(iris_bundle())}


@pytest.fixture
def api(template: dict[str, Any], handlers: dict[str, Any]) -> Iterator[KeyedApi]:
    with mock_aws():
        aws = session()
        create_plans(aws, "dev", ConsumersConfig())
        directory = KeyDirectory(aws.client("apigateway"), "maaskit-dev-", ttl_s=0)
        yield KeyedApi(
            stage="dev", routes=routes_of(template), lambdas=dict(handlers), endpoints={}, template=template,
            authorizer=lambda event, context: authorize(event, directory), apigateway=aws.client("apigateway"),
            iam_principals={ACCESS_KEY: ROLE},
        )  # fmt: skip


def _signed(method: str, url: str, body: bytes = b"", access_key: str = ACCESS_KEY) -> dict[str, str]:
    """SigV4 headers for execute-api, as an AWS SDK or ``awscurl`` would send them."""
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(access_key, "secret", "token"), "execute-api", REGION).add_auth(request)
    return dict(request.headers.items())


def _methods(template: dict[str, Any]) -> dict[str, set[tuple[str, bool]]]:
    by_model: dict[str, set[tuple[str, bool]]] = {}
    for route in routes_of(template):
        model = next((p.split(":")[0] for p in route.parts if p.split(":")[0] in {"embedder", "iris"}), "(catalogue)")
        props = next(
            m["Properties"]
            for m in template["Resources"].values()
            if m["Type"] == "AWS::ApiGateway::Method" and m["Properties"]["Integration"] == route.integration
            and m["Properties"]["HttpMethod"] == route.method
        )  # fmt: skip
        by_model.setdefault(model, set()).add((route.authorization, bool(props.get("ApiKeyRequired"))))
    return by_model


def test_each_models_routes_carry_its_own_auth(template: dict[str, Any]) -> None:
    assert _methods(template) == {
        "embedder": {("CUSTOM", True)},
        "iris": {("AWS_IAM", False)},
        "(catalogue)": {("AWS_IAM", False)},
    }


def test_a_consumer_key_reaches_the_keys_model_and_not_the_iam_one(api: KeyedApi) -> None:
    key = create_key(session(), "dev", "acme", "standard").value
    client = openai.OpenAI(
        base_url=f"{BASE}/models/embedder/v1",
        api_key=key,
        http_client=httpx.Client(transport=api),  # type: ignore[arg-type]
        max_retries=0,
    )
    assert len(client.embeddings.create(model="embedder", input="hello").data) == 1
    with httpx.Client(transport=api, base_url=BASE) as http:
        refused = http.post(
            "/models/iris/predict", headers={"Authorization": f"Bearer {key}"}, json={"rows": [[1, 2, 3, 4]]}
        )
        catalogue = http.get("/models", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 403 and refused.json() == {"message": "Missing Authentication Token"}
    assert catalogue.status_code == 403  # GET /models keeps the stage default (IAM)
    assert [c.route for c in api.calls if c.status == 200] == ["/models/embedder/{proxy+}"]


def test_a_sigv4_caller_reaches_the_iam_model_and_not_the_keys_one(
    api: KeyedApi, capsys: pytest.CaptureFixture[str]
) -> None:
    body = json.dumps({"rows": [[5.1, 3.5, 1.4, 0.2]]}).encode()
    url = f"{BASE}/models/iris/predict"
    with httpx.Client(transport=api) as http:
        answer = http.post(url, content=body, headers=_signed("POST", url, body))
        stranger = http.post(url, content=body, headers=_signed("POST", url, body, access_key="AKIAUNKNOWN0000"))
        embedder_url = f"{BASE}/models/embedder"
        keyless = http.get(embedder_url, headers=_signed("GET", embedder_url))
    assert answer.status_code == 200 and answer.json()["model"] == "iris"
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{") and '"request_id"' in x]
    assert line["caller_type"] == "iam" and line["principal"] == ROLE and line["consumer"].startswith("arn:aws:")
    assert stranger.status_code == 403 and "security token" in stranger.json()["message"]
    assert keyless.status_code == 401 and keyless.json()["error"]["code"] == "invalid_api_key"
