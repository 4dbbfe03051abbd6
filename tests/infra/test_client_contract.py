"""The client matches what is deployed: every call the client and docs/operations.md make exists in
the synthesized API, for Lambda and SageMaker models, and answers in the shape the client reads.

The client runs against the synthesized route set (``tests/infra/api_emulator.py``): iris through
its Lambda routes (the real Lambda handler), diabetes through its SageMaker routes (InvokeEndpoint's
headers and templates applied, the real container app with its ``/invocations`` tunnel).
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from bundle import names, open_bundle
from maaskit.client import MaaskitClient, ModelNotFoundError
from tests.infra.api_emulator import MISSING_ROUTE, EmulatedApi, routes_of
from tests.infra.conftest import REPO_ROOT, Synth

OPERATIONS = REPO_ROOT / "docs" / "operations.md"
LAMBDA_MODEL, SAGEMAKER_MODEL = "iris", "diabetes"
_QUIET = {names.ACCESS_LOG: "false", names.METRICS: "none", names.INTRA_OP_THREADS: "1"}


@pytest.fixture(scope="module")
def api(default_synth: Synth, bundles: dict[str, Path]) -> Iterator[EmulatedApi]:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {**_QUIET, names.BUNDLES: str(bundles[LAMBDA_MODEL])}.items():
            patch.setenv(key, value)
        sys.modules.pop("handlers.lambda_entry", None)
        lambda_entry = importlib.import_module("handlers.lambda_entry")
        sys.modules.pop("handlers.lambda_entry", None)
    from handlers.sagemaker_entry import build_app

    container = build_app({**_QUIET, names.BUNDLES: str(bundles[SAGEMAKER_MODEL]), names.BATCHING: "0"})
    yield EmulatedApi(
        "dev",
        routes_of(default_synth.template),
        lambdas={LAMBDA_MODEL: lambda_entry.handler},
        endpoints={f"maaskit-dev-{SAGEMAKER_MODEL}": container},
    )


@pytest.fixture
def client(api: EmulatedApi) -> Iterator[MaaskitClient]:
    api.calls.clear()
    with MaaskitClient("https://abc.execute-api.eu-west-1.amazonaws.com/dev", transport=api, retries=0) as client:
        yield client


def test_models_lists_every_model_of_the_stage_with_its_versions(client: MaaskitClient, api: EmulatedApi):
    assert client.models() == [
        {"name": SAGEMAKER_MODEL, "versions": ["1.0.0"], "latest": "1.0.0"},
        {"name": LAMBDA_MODEL, "versions": ["1.0.0"], "latest": "1.0.0"},
    ]
    assert [call.route for call in api.calls] == ["/models"]


@pytest.mark.parametrize("model", [LAMBDA_MODEL, SAGEMAKER_MODEL])
def test_model_detail_has_the_same_shape_on_both_targets(client: MaaskitClient, bundles: dict[str, Path], model: str):
    detail = client.model(model)
    manifest = open_bundle(bundles[model]).manifest
    assert detail["name"] == model and detail["latest"] == manifest.version
    assert [spec["name"] for spec in detail["inputs"]] == [spec.name for spec in manifest.inputs]
    assert [spec["dtype"] for spec in detail["outputs"]] == [spec.dtype for spec in manifest.outputs]
    other = client.model(LAMBDA_MODEL if model == SAGEMAKER_MODEL else SAGEMAKER_MODEL)
    assert detail.keys() == other.keys()


@pytest.mark.parametrize("model", [LAMBDA_MODEL, SAGEMAKER_MODEL])
@pytest.mark.parametrize("binary", [False, None, True])
def test_predict_answers_the_samples_on_both_targets(
    client: MaaskitClient, api: EmulatedApi, bundles: dict[str, Path], model: str, binary: bool | None
):
    samples = open_bundle(bundles[model]).samples()
    inputs = {name: np.concatenate([array] * 1000) for name, array in samples.inputs.items()}  # over 64 KiB
    if binary and model == SAGEMAKER_MODEL:
        with pytest.raises(ModelNotFoundError, match="the API has no such route"):
            client.predict(model, inputs, binary=True)
        return
    prediction = client.predict(model, inputs, binary=binary)
    assert prediction.model == model and prediction.version == "1.0.0"
    rows = len(next(iter(samples.inputs.values())))
    for name, expected in samples.outputs.items():
        assert prediction[name].dtype == expected.dtype, name
        np.testing.assert_allclose(prediction[name][:rows], expected, rtol=1e-5, atol=1e-6)
    routes = {call.route for call in api.calls}
    assert None not in routes or (model == SAGEMAKER_MODEL and binary is None)  # the binary probe, then JSON
    uses_binary = any(call.path.endswith("/infer") and call.status == 200 for call in api.calls)
    assert uses_binary == (model == LAMBDA_MODEL and binary is not False)


def test_health_asks_every_model_of_the_stage(client: MaaskitClient, api: EmulatedApi):
    assert client.health() is True
    assert client.health(SAGEMAKER_MODEL) is True
    assert {call.route for call in api.calls} == {"/models", "/models/iris", "/models/diabetes"}
    with pytest.raises(ModelNotFoundError, match="GET /models lists the models"):
        client.health("absent")


@pytest.mark.parametrize("model", [LAMBDA_MODEL, SAGEMAKER_MODEL])
def test_a_pinned_version_that_is_not_served_is_an_error_not_another_answer(
    client: MaaskitClient, bundles: dict[str, Path], model: str
):
    inputs = open_bundle(bundles[model]).samples().inputs
    assert client.predict(model, inputs, version="1.0.0").version == "1.0.0"
    with pytest.raises(Exception, match="9.9.9"):
        client.predict(model, inputs, version="9.9.9")


def _documented_calls() -> list[tuple[str, str, bool, bool]]:
    """Rows of the route table in docs/operations.md: method, path, on Lambda models, on SageMaker models."""
    rows = []
    for line in OPERATIONS.read_text().splitlines():
        match = re.match(r"\| `(GET|POST) (/\S+)` \|[^|]*\| (yes|no) \| (yes|no) \|", line)
        if match:
            rows.append((match[1], match[2], match[3] == "yes", match[4] == "yes"))
    return rows


def test_docs_route_table_matches_the_synthesized_api(api: EmulatedApi):
    """A "yes" call is answered by the model's deployment (any status but API Gateway's no-route 403 and
    a 404); a "no" call is not (no route, or a proxy to a function that has no such route)."""
    rows = _documented_calls()
    assert len(rows) >= 8, "docs/operations.md lost its route table"
    with httpx.Client(transport=api, base_url="https://abc.execute-api.eu-west-1.amazonaws.com/dev") as http:
        for method, template, on_lambda, on_sagemaker in rows:
            for model, expected in ((LAMBDA_MODEL, on_lambda), (SAGEMAKER_MODEL, on_sagemaker)):
                path = template.replace("{name}", model).replace("{version}", "1.0.0")
                body = {"content": b"{}", "headers": {"content-type": "application/json"}} if method == "POST" else {}
                response = http.request(method, path, **body)  # type: ignore[arg-type]
                answered = response.status_code != 404 and not (
                    response.status_code == 403 and response.json() == MISSING_ROUTE
                )
                assert answered == expected, f"{method} {path}: docs say {expected}, got {response.status_code}"
