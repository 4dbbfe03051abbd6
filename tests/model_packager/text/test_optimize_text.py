"""int8 and the transformer optimizer on text models, each re-checked from raw text; refusals carry figures."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from bundle.parity_text import TextTolerances
from model_packager import package
from model_packager.parity import ParityError
from model_packager.text_optimize import OptimizationRefusedError
from model_packager.verify import verify_bundle
from tests.model_packager.text.helpers import cosine, run_bundle

pytestmark = pytest.mark.torch

TEXTS = ["The cat sat on the mat.", "Alice met Bob in Paris.", "Stock markets fell.", "ok"]


def _ops(directory: Path) -> set[str]:
    return {node.op_type for node in onnx.load(str(directory / "model.onnx")).graph.node}


def test_transformer_optimizer_fuses_attention_and_keeps_parity(st_folder: Path, tmp_path: Path) -> None:
    result = package(st_folder, name="fused", version="1.0.0", out=tmp_path, optimize="transformer")
    ops = _ops(result.directory)
    assert {"Attention", "EmbedLayerNormalization", "SkipLayerNormalization"} <= ops
    assert result.manifest.optimization is not None and result.manifest.optimization.graph_level == "transformer"
    cos = {c.metric: c for c in result.parity.checks}["min_cosine"]
    assert cos.passed and cos.tolerance == 0.9999
    assert any("transformer optimizer fused: Attention 2" in note for note in result.notes)
    outputs, _ = run_bundle(result.directory, TEXTS)
    assert outputs["sentence_embedding"].shape == (len(TEXTS), 32)


def test_int8_is_smaller_and_gated_by_cosine(st_folder: Path, tmp_path: Path) -> None:
    plain = package(st_folder, name="plain", version="1.0.0", out=tmp_path)
    result = package(st_folder, name="q8", version="1.0.0", out=tmp_path, quantize="int8")
    optimization = result.manifest.optimization
    assert optimization is not None and optimization.quantization == "int8"
    assert optimization.size_after < optimization.size_before
    checks = {c.metric: c for c in optimization.parity.checks}
    assert checks["min_cosine"].tolerance == 0.99 and checks["min_cosine"].measured >= 0.99
    assert checks["ranking_agreement"].passed
    assert "DynamicQuantizeLinear" in _ops(result.directory) or "MatMulInteger" in _ops(result.directory)
    assert any("after SmoothQuant on" in note and "kept in fp32" in note for note in result.notes)
    assert verify_bundle(result.directory).passed  # the runtime's check judges as the build gate did
    q8, _ = run_bundle(result.directory, TEXTS)
    fp32, _ = run_bundle(plain.directory, TEXTS)
    assert cosine(q8["sentence_embedding"], fp32["sentence_embedding"]).min() >= 0.99


def test_a_quantization_below_the_cosine_gate_is_refused_with_the_figures(st_folder: Path, tmp_path: Path) -> None:
    impossible = TextTolerances(min_cosine=0.99999999, min_ranking_agreement=1.0)
    with pytest.raises(
        ParityError, match=r"after int8 quantization: .*cosine 0\.9\d+ < 0\.99999999 on text \d+"
    ) as info:
        package(st_folder, name="q8", version="1.0.0", out=tmp_path, quantize="int8", int8_text_tolerances=impossible)
    assert info.value.stage == "int8 quantization"
    assert not any(tmp_path.iterdir())


def test_fusion_then_int8_quantizes_the_fused_attention(st_folder: Path, tmp_path: Path) -> None:
    result = package(st_folder, name="both", version="1.0.0", out=tmp_path, quantize="int8", optimize="transformer")
    optimization = result.manifest.optimization
    assert optimization is not None and (optimization.quantization, optimization.graph_level) == ("int8", "transformer")
    assert optimization.parity.passed and optimization.size_after < optimization.size_before
    assert "QAttention" in _ops(result.directory)  # the fused attention's Q/K/V projection runs in int8
    assert verify_bundle(result.directory).passed
    q8, _ = run_bundle(result.directory, TEXTS)
    assert q8["sentence_embedding"].shape == (len(TEXTS), 32)


def test_a_graph_optimization_that_grows_an_int8_model_is_refused(
    classifier_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    import model_packager.text_optimize as text_optimize

    monkeypatch.setattr(text_optimize, "optimize_graph_in_memory", lambda model, level: model + b"\0" * 1000)
    with pytest.raises(OptimizationRefusedError, match=r"larger \(\d+\.\d+ MB -> \d+\.\d+ MB\): refused"):
        package(classifier_folder, name="grow", version="1.0.0", out=tmp_path, quantize="int8", optimize="extended")
    assert not any(tmp_path.iterdir())
