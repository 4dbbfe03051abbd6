"""Across the phases: a bundle from the real packager, served by the real app, called in every protocol.

The runtime's own tests use hand-built bundles; this one catches what only the packager's real
output exposes (int class labels, int64 label tensors, generated names).
"""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import model_packager
from bundle import Samples, open_bundle
from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.settings import Settings
from tests.handlers.conftest import asgi_post


class _AppClient:
    """POSTs to the ASGI app in-process (the same request path a server would take)."""

    def __init__(self, app: object) -> None:
        self.app = app

    def post(self, path: str, **kwargs: object) -> httpx.Response:
        return asgi_post(self.app, path, **kwargs)


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Samples]:
    features, target = load_iris(return_X_y=True)
    model = Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression(max_iter=500))]).fit(
        features, target
    )
    out = tmp_path_factory.mktemp("bundles")
    model_packager.package(model, sample=features[::15].astype(np.float32), name="iris", version="1.0.0", out=out)
    bundle = open_bundle(out / "iris-1.0.0.tar.gz", extract_to=out / "extracted")
    assert bundle.manifest.labels == [0, 1, 2]
    return out / "iris-1.0.0.tar.gz", bundle.samples()


@pytest.fixture(scope="module")
def client(packaged: tuple[Path, Samples]) -> _AppClient:
    settings = Settings.load(environ={}, access_log=False, intra_op_threads=1)
    app = create_app(ModelRepository.load(settings, [packaged[0]]), settings)
    return _AppClient(app)


def _rows(packaged: tuple[Path, Samples]) -> tuple[np.ndarray, list[int]]:
    samples = packaged[1]
    (name,) = samples.inputs
    return samples.inputs[name], samples.outputs["label"].tolist()


def test_every_protocol_answers_the_packaged_labels(client: _AppClient, packaged) -> None:
    x, labels = _rows(packaged)
    npy = io.BytesIO()
    np.save(npy, x, allow_pickle=False)

    answer = client.post("/models/iris/predict", json={"rows": x.tolist()})
    assert answer.status_code == 200, answer.text
    assert answer.json()["labels"] == labels

    answer = client.post("/invocations", content=npy.getvalue(), headers={"content-type": "application/x-npy"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["labels"] == labels

    answer = client.post("/v1/models/iris:predict", json={"instances": x.tolist()})
    assert answer.status_code == 200, answer.text
    assert [row["label"] for row in answer.json()["predictions"]] == labels

    oip = {"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]}
    answer = client.post("/v2/models/iris/infer", json=oip)
    assert answer.status_code == 200, answer.text
    outputs = {item["name"]: item for item in answer.json()["outputs"]}
    assert outputs["label"]["data"] == labels

    answer = client.post("/predictions/iris", json={"instances": x.tolist()})
    assert answer.status_code == 200, answer.text
