"""MaaskitClient against the real maaskit app served by uvicorn on loopback."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from bundle import open_bundle
from maaskit.client import InvalidInputError, MaaskitClient, ModelNotFoundError
from tests.handlers.bundles import BuiltBundles


@pytest.fixture
def client(served: str):
    with MaaskitClient(served, timeout=10, retries=0) as client:
        yield client


def test_discovery(client: MaaskitClient) -> None:
    assert client.health() is True
    served = {m["name"]: m for m in client.models()}
    assert served["adder"]["versions"] == ["1.0.0", "1.10.0"] and served["adder"]["latest"] == "1.10.0"
    iris = client.model("iris")
    assert iris["task"] == "classifier" and [i["name"] for i in iris["inputs"]] == ["X"]


def test_classifier_matches_the_bundle_samples(client: MaaskitClient, client_bundles: BuiltBundles) -> None:
    samples = open_bundle(client_bundles.iris).samples()
    prediction = client.predict("iris", samples.inputs["X"])
    assert (prediction.model, prediction.version) == ("iris", "1.0.0")
    assert prediction["probabilities"].dtype == np.float32
    np.testing.assert_allclose(prediction["probabilities"], samples.outputs["probabilities"], atol=1e-4)
    assert prediction.labels == samples.outputs["label"].tolist()


def test_multiple_inputs_and_version_pin(client: MaaskitClient) -> None:
    a = np.array([[1, 2], [3, 4]], dtype=np.int64)
    b = np.array([[10, 10], [10, 10]], dtype=np.int64)
    latest = client.predict("adder", {"a": a, "b": b})
    assert latest.version == "1.10.0" and latest["total"].dtype == np.int64
    np.testing.assert_array_equal(latest["total"], (a + b) * 2)
    pinned = client.predict("adder", {"a": a, "b": b}, version="1.0.0")
    assert pinned.version == "1.0.0"
    np.testing.assert_array_equal(pinned["total"], a + b)


def test_errors_carry_the_server_message(client: MaaskitClient) -> None:
    with pytest.raises(ModelNotFoundError) as missing:
        client.predict("ghost", np.zeros((1, 4), dtype=np.float32))
    assert missing.value.status == 404 and "ghost" in missing.value.message
    with pytest.raises(InvalidInputError) as bad:
        client.predict("iris", np.zeros((1, 5), dtype=np.float32))
    assert bad.value.status == 400 and "X" in bad.value.message
    with pytest.raises(InvalidInputError, match="2 inputs"):
        client.predict("adder", np.zeros((1, 2), dtype=np.int64))
    with pytest.raises(ModelNotFoundError):
        client.predict("adder", {"a": np.zeros((1, 2)), "b": np.zeros((1, 2))}, version="9.9.9")


class RecordingTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(f"{request.method} {request.url.path} {request.headers.get('content-type', '')}")
        return super().handle_request(request)


def test_binary_tensors_match_json(client: MaaskitClient, client_bundles: BuiltBundles) -> None:
    samples = open_bundle(client_bundles.iris).samples()
    as_json = client.predict("iris", samples.inputs["X"], binary=False)
    as_binary = client.predict("iris", samples.inputs["X"], binary=True)
    assert as_binary.labels == as_json.labels == samples.outputs["label"].tolist()
    assert as_binary["probabilities"].dtype == np.float32
    np.testing.assert_allclose(as_binary["probabilities"], as_json["probabilities"], rtol=1e-6)
    a, b = np.ones((2, 2), dtype=np.int64), np.full((2, 2), 3, dtype=np.int64)
    pinned = client.predict("adder", {"a": a, "b": b}, version="1.0.0", binary=True)
    assert pinned.version == "1.0.0"
    np.testing.assert_array_equal(pinned["total"], a + b)
    with pytest.raises(InvalidInputError) as bad:  # the OIP route's error shape, read the same way
        client.predict("iris", np.zeros((2, 5), dtype=np.float32), binary=True)
    assert bad.value.status == 400 and "X" in bad.value.message


def test_large_inputs_go_binary(served: str) -> None:
    transport = RecordingTransport()
    rng = np.random.default_rng(0)
    big = rng.normal(size=(20_000, 3)).astype(np.float32)  # 240 kB > BINARY_THRESHOLD
    with MaaskitClient(served, transport=transport, retries=0) as client:
        auto = client.predict("diabetes", big)
        small = client.predict("diabetes", big[:10])
    assert "POST /v2/models/diabetes/infer application/octet-stream" in transport.paths
    assert "POST /models/diabetes/predict application/json" in transport.paths
    assert auto["variable"].shape == (20_000, 1)
    np.testing.assert_allclose(auto["variable"][:10], small["variable"], rtol=1e-5)
