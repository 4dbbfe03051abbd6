"""SmoothQuant before int8: same fp32 answers, better int8 answers on outlier channels, fp32 where asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from model_packager import package
from model_packager.int8_smooth import smooth_for_int8
from model_packager.optimize_bytes import quantize_int8_in_memory
from model_packager.parity import run_onnx
from tests.model_packager.text.helpers import cosine, run_bundle

pytestmark = pytest.mark.torch

TEXTS = ["ok", "!!!", "", "The cat sat on the mat.", "Alice met Bob in Paris.", "Stock markets fell " * 8]


def _with_outlier_channels(model_bytes: bytes, channel: int = 5, factor: float = 300.0) -> bytes:
    """The model with one feed-forward channel ``factor`` times larger going into each output MatMul.

    Trained transformers carry such outlier channels; here the intermediate MatMul's column and bias
    are scaled up and the output MatMul's row scaled down, so the outlier lives only between the two.
    """
    model = onnx.load_from_string(model_bytes)
    initializers = {init.name: init for init in model.graph.initializer}
    consumers = {name: node for node in model.graph.node for name in node.input}

    def scale(name: str, index: tuple[slice | int, ...], by: float) -> None:
        values = numpy_helper.to_array(initializers[name]).copy()
        values[index] *= by
        initializers[name].CopyFrom(numpy_helper.from_array(values, name))

    for node in model.graph.node:
        if node.op_type != "MatMul" or node.input[1] not in initializers:
            continue
        if "/intermediate/dense/" in node.name:
            scale(node.input[1], (slice(None), channel), factor)
            bias = consumers[node.output[0]]
            shared = next((name for name in bias.input if name in initializers), None)
            if shared is not None:  # a bias the exporter shares through Identity is all zeros here
                scale(shared, (channel,), factor)
        elif "/output/dense/" in node.name and "/attention/" not in node.name:
            scale(node.input[1], (channel, slice(None)), 1.0 / factor)
    return model.SerializeToString()


@pytest.fixture(scope="module")
def outlier_model(st_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict[str, np.ndarray]]:
    result = package(st_folder, name="fp32", version="1.0.0", out=tmp_path_factory.mktemp("smooth"))
    _, encoded = run_bundle(result.directory, TEXTS)
    model = _with_outlier_channels((result.directory / "model.onnx").read_bytes())
    return model, encoded.feed


def _embeddings(model: bytes, feed: dict[str, np.ndarray]) -> np.ndarray:
    return run_onnx(model, feed)["sentence_embedding"]


def test_smoothing_keeps_the_fp32_answers(outlier_model: tuple[bytes, dict[str, np.ndarray]]) -> None:
    model, feed = outlier_model
    smoothed = smooth_for_int8(model, feed)
    assert smoothed.groups and any(group.alpha > 0 for group in smoothed.groups)
    assert "Mul" in {node.op_type for node in onnx.load_from_string(smoothed.model).graph.node}
    np.testing.assert_allclose(_embeddings(smoothed.model, feed), _embeddings(model, feed), rtol=1e-4, atol=1e-5)


def test_smoothing_makes_int8_follow_outlier_channels(outlier_model: tuple[bytes, dict[str, np.ndarray]]) -> None:
    model, feed = outlier_model
    want = _embeddings(model, feed)
    plain = cosine(_embeddings(quantize_int8_in_memory(model), feed), want)
    smoothed = cosine(_embeddings(quantize_int8_in_memory(smooth_for_int8(model, feed).model), feed), want)
    # the worst text's distance from the fp32 embedding at least halves
    assert 1.0 - smoothed.min() < (1.0 - plain.min()) / 2, (plain, smoothed)


def test_the_worst_inputs_come_first_and_stay_fp32(outlier_model: tuple[bytes, dict[str, np.ndarray]]) -> None:
    model, feed = outlier_model
    smoothed = smooth_for_int8(model, feed)
    errors = [group.error for group in smoothed.groups]
    assert errors == sorted(errors, reverse=True)
    kept = list(smoothed.exclusion_order()[0])
    quantized = onnx.load_from_string(quantize_int8_in_memory(smoothed.model, kept))
    by_name = {node.name: node.op_type for node in quantized.graph.node}
    assert all(by_name[name] == "MatMul" for name in kept)
    assert "MatMulInteger" in by_name.values() or "DynamicQuantizeMatMul" in by_name.values()


def test_int8_still_packages_when_smoothing_cannot_run(st_folder: Path, tmp_path: Path, monkeypatch) -> None:
    import model_packager.text_int8 as text_int8

    def broken(model: bytes, feed: dict[str, np.ndarray]) -> None:
        raise RuntimeError("probe failed")

    monkeypatch.setattr(text_int8, "smooth_for_int8", broken)
    result = package(st_folder, name="q8", version="1.0.0", out=tmp_path, quantize="int8")
    assert result.manifest.optimization is not None and result.manifest.optimization.parity.passed
    assert any("without SmoothQuant" in note for note in result.notes)
