"""``MaaskitClient.predict`` on a classifier whose label output is a class index and whose labels are
strings (a PyTorch softmax head packaged with ``labels=``): the labels come back as the labels, on
the JSON route and on the binary route alike (issue 20)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from maaskit.client import MaaskitClient
from tests.client.conftest import serving

torch = pytest.importorskip("torch")

LABELS = ["cat", "dog", "fox"]


@pytest.fixture(scope="module")
def animals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from model_packager import package

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1)).eval()
    sample = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    result = package(
        model, name="animals", version="1.0.0", sample=sample, labels=LABELS, out=tmp_path_factory.mktemp("animals")
    )
    return result.directory


@pytest.fixture(scope="module")
def url(animals: Path) -> Iterator[str]:
    with serving([animals]) as served_url:
        yield served_url


@pytest.fixture(scope="module")
def expected(animals: Path) -> tuple[np.ndarray, list[str]]:
    """Inputs and the labels the model gives them (argmax of its probabilities)."""
    import onnxruntime as ort

    x = np.random.default_rng(1).normal(size=(2048, 4)).astype(np.float32)  # 32 KB: binary when forced
    session = ort.InferenceSession(str(animals / "model.onnx"), providers=["CPUExecutionProvider"])
    from bundle import open_bundle

    manifest = open_bundle(animals).manifest
    probabilities = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"input": x}), strict=True))[
        manifest.probability_output
    ]
    return x, [LABELS[i] for i in probabilities.argmax(axis=1)]


def test_bundle_is_a_string_labelled_index_classifier(animals: Path):
    from bundle import open_bundle

    manifest = open_bundle(animals).manifest
    assert manifest.labels == LABELS and manifest.label_output is not None
    assert {spec.name: spec.dtype for spec in manifest.outputs}[manifest.label_output] == "int64"


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_labels_are_the_labels_on_both_routes(url: str, animals: Path, expected, binary: bool):
    x, labels = expected
    from bundle import open_bundle

    label_output = open_bundle(animals).manifest.label_output
    with MaaskitClient(url) as client:
        prediction = client.predict("animals", x, binary=binary)
    assert prediction.labels == labels
    assert label_output is not None
    values = prediction[label_output]
    assert values.dtype == object and values.tolist() == labels
    assert all(isinstance(item, str) for item in values.tolist())


def test_json_and_binary_answers_agree(url: str, animals: Path, expected):
    x, _ = expected
    with MaaskitClient(url) as client:
        small = client.predict("animals", x[:3])  # JSON (under the binary threshold)
        large = client.predict("animals", x)  # binary (over it)
    assert small.labels is not None and large.labels is not None
    assert small.labels == large.labels[:3]
    for name in small:
        assert small[name].dtype == large[name].dtype, name
