"""``maaskit invoke <deployed API URL> --data FILE`` reaches a route the deployed API has, for every data
format (.json .npz .csv .npy .jpg) and both targets (issue 20).

One stage is synthesized with a tabular and an image model on each target; ``maaskit invoke`` runs
against its route set (``tests/infra/api_emulator.py``: the real Lambda handler behind the Lambda
routes, the real SageMaker container app behind InvokeEndpoint). Before the fix CSV, .npy and images
went to ``/invocations``, which the API does not route (403 Missing Authentication Token).
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bundle import names, open_bundle
from maaskit.invoke import invoke_target
from tests.infra.api_emulator import EmulatedApi, routes_of
from tests.infra.conftest import Synth, synthesize

pytestmark = pytest.mark.slow

URL = "https://abc.execute-api.eu-west-1.amazonaws.com/dev"
TABULAR = {"lambda": "iris", "sagemaker": "diabetes"}
IMAGES = {"lambda": "pets", "sagemaker": "cats"}
_QUIET = {names.ACCESS_LOG: "false", names.METRICS: "none", names.INTRA_OP_THREADS: "1"}


@pytest.fixture(scope="module")
def image_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("torch")
    from model_packager import ImageClassifier, ImagePreprocessing, package
    from tests.imagemodels import LABELS, tiny_convnet

    out = tmp_path_factory.mktemp("invoke-images")
    module = ImageClassifier(tiny_convnet(), ImagePreprocessing(resize=40, crop=32), LABELS)
    return {name: package(module, name=name, version="1.0.0", out=out).directory for name in IMAGES.values()}


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory, bundles: dict[str, Path], image_bundles: dict[str, Path]) -> Synth:
    paths = {**bundles, **image_bundles}
    endpoints = [
        {"name": model, "bundle": str(paths[model]), "target": target}
        for group in (TABULAR, IMAGES)
        for target, model in group.items()
    ]
    return synthesize(tmp_path_factory.mktemp("invoke-stage"), {"endpoints": endpoints}, stage="dev")


@pytest.fixture(scope="module")
def api(stage: Synth, bundles: dict[str, Path], image_bundles: dict[str, Path]) -> Iterator[EmulatedApi]:
    paths = {**bundles, **image_bundles}
    lambdas = {}
    for model in (TABULAR["lambda"], IMAGES["lambda"]):
        with pytest.MonkeyPatch.context() as patch:
            for key, value in {**_QUIET, names.BUNDLES: str(paths[model])}.items():
                patch.setenv(key, value)
            sys.modules.pop("handlers.lambda_entry", None)
            lambdas[model] = importlib.import_module("handlers.lambda_entry").handler
            sys.modules.pop("handlers.lambda_entry", None)
    from handlers.sagemaker_entry import build_app

    endpoints = {
        f"maaskit-dev-{model}": build_app({**_QUIET, names.BUNDLES: str(paths[model]), names.BATCHING: "0"})
        for model in (TABULAR["sagemaker"], IMAGES["sagemaker"])
    }
    yield EmulatedApi("dev", routes_of(stage.template), lambdas=lambdas, endpoints=endpoints)


def _write(path: Path, fmt: str, x: np.ndarray) -> Path:
    if fmt == ".json":
        path.write_text(json.dumps({"inputs": {"X": x.tolist()}}))
    elif fmt == ".npz":
        np.savez(path, X=x)
    elif fmt == ".csv":
        path.write_text("\n".join(",".join(repr(float(v)) for v in row) for row in x) + "\n")
    else:
        np.save(path, x)
    return path


def _invoke(api: EmulatedApi, model: str, data: Path, *, probes: int = 0) -> tuple[int, dict[str, Any]]:
    """Invoke through the emulated API; at most ``probes`` calls may hit a path the API does not route."""
    api.calls.clear()
    status, text = invoke_target(URL, model=model, data=data, version=None, transport=api)
    unrouted = [(c.method, c.path) for c in api.calls if c.route is None]
    assert len(unrouted) <= probes, unrouted
    assert api.calls[-1].route is not None
    return status, json.loads(text)


@pytest.mark.parametrize("target", ["lambda", "sagemaker"])
@pytest.mark.parametrize("fmt", [".json", ".npz", ".csv", ".npy"])
def test_tabular_formats_reach_a_routed_path(
    api: EmulatedApi, bundles: dict[str, Path], tmp_path: Path, target: str, fmt: str
):
    model = TABULAR[target]
    samples = open_bundle(bundles[model]).samples()
    data = _write(tmp_path / f"x{fmt}", fmt, samples.inputs["X"])
    status, answer = _invoke(api, model, data)
    assert status == 200, answer
    assert answer["model"] == model
    for name, expected in samples.outputs.items():
        np.testing.assert_allclose(np.asarray(answer["outputs"][name]), expected, rtol=1e-4, atol=1e-4)
    assert [call.route for call in api.calls][-1] == f"/models/{model}/predict"


@pytest.mark.parametrize("target", ["lambda", "sagemaker"])
def test_image_files_reach_a_routed_path(api: EmulatedApi, tmp_path: Path, target: str):
    from tests.imagemodels import LABELS, jpeg

    model = IMAGES[target]
    data = tmp_path / "pet.jpg"
    data.write_bytes(jpeg())
    status, answer = _invoke(api, model, data)
    assert status == 200, answer
    assert answer["predictions"][0][0]["label"] in LABELS
    assert [call.route for call in api.calls][-1] == f"/models/{model}/predict"


@pytest.mark.parametrize("target", ["lambda", "sagemaker"])
@pytest.mark.parametrize("fmt", [".csv", ".npy"])
def test_nonfinite_data_reaches_a_routed_path(
    api: EmulatedApi, bundles: dict[str, Path], tmp_path: Path, target: str, fmt: str
):
    """NaN cannot travel in JSON: binary tensors on Lambda, the file itself to the SageMaker container."""
    model = TABULAR[target]
    x = open_bundle(bundles[model]).samples().inputs["X"].copy()
    x[0, 0] = np.nan
    probes = 1 if target == "sagemaker" else 0  # the binary route, which SageMaker models lack
    status, answer = _invoke(api, model, _write(tmp_path / f"x{fmt}", fmt, x), probes=probes)
    routes = [call.route for call in api.calls]
    assert routes.count(f"/models/{model}") == 1  # the signature is read once
    expected = f"/v2/models/{model}/{{proxy+}}" if target == "lambda" else f"/models/{model}/invocations"
    assert routes[-1] == expected, routes
    assert status != 403, answer  # the model may refuse NaN (400); the route exists


@pytest.mark.parametrize("target", ["lambda", "sagemaker"])
def test_client_sends_nonfinite_inputs_as_binary_tensors(api: EmulatedApi, bundles: dict[str, Path], target: str):
    """JSON would write NaN as null (refused by the server): the client picks the binary route, and says
    what to do where the API has none."""
    from maaskit.client import InvalidInputError, MaaskitClient

    model = TABULAR[target]
    x = open_bundle(bundles[model]).samples().inputs["X"].copy()
    x[0, 0] = np.nan
    api.calls.clear()
    with MaaskitClient(URL, transport=api, retries=0) as client:
        if target == "sagemaker":
            with pytest.raises(InvalidInputError, match="NaN or infinity"):
                client.predict(model, x)
            return
        try:
            client.predict(model, x)
        except InvalidInputError as exc:  # the model may refuse NaN; it was asked on the binary route
            assert "null" not in str(exc)
    assert api.calls[-1].route == f"/v2/models/{model}/{{proxy+}}"
