"""fp16 for GPU targets: half-precision weights, float32 at the edges, parity re-checked (on CPU here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
from torch import nn  # noqa: E402

from maaskit.cli import app as cli_app  # noqa: E402
from model_packager import package  # noqa: E402
from model_packager.api import InvalidRequestError  # noqa: E402
from model_packager.converters.base import ConversionError  # noqa: E402
from model_packager.parity import FP16_TOLERANCES, ParityError, Tolerances  # noqa: E402
from model_packager.verify import verify_bundle  # noqa: E402

pytestmark = pytest.mark.torch


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 128), nn.GELU(), nn.Linear(128, 128), nn.Tanh(), nn.Linear(128, 4))


def test_fp16_halves_the_weights_keeps_float32_io_and_records_the_looser_gate(tmp_path: Path) -> None:
    sample = (torch.randn(8, 16),)
    result = package(_mlp(), name="half", version="1.0.0", sample=sample, out=tmp_path, precision="fp16")
    optimization = result.manifest.optimization
    assert optimization is not None and optimization.precision == "fp16"
    assert optimization.size_after < 0.6 * optimization.size_before  # float32 -> float16 weights
    model = onnx.load(str(result.directory / "model.onnx"))
    big = [t for t in model.graph.initializer if len(t.dims) == 2]
    assert big and {t.data_type for t in big} == {onnx.TensorProto.FLOAT16}
    assert [(s.dtype) for s in result.manifest.inputs + result.manifest.outputs] == ["float32", "float32"]
    checks = {c.metric: c for c in optimization.parity.checks}
    assert checks["max_abs_diff"].tolerance == FP16_TOLERANCES.atol
    assert 0 < checks["max_abs_diff"].measured < FP16_TOLERANCES.atol  # a real half-precision error, within the gate
    assert any("checked on the CPU provider" in note for note in result.notes)
    assert verify_bundle(result.archive).passed


def test_fp16_parity_failure_names_the_stage(tmp_path: Path) -> None:
    with pytest.raises(ParityError, match=r"after fp16 conversion \(checked on CPU\)"):
        package(
            _mlp(),
            name="half",
            version="1.0.0",
            sample=(torch.randn(8, 16),),
            out=tmp_path / "out",
            precision="fp16",
            fp16_tolerances=Tolerances(atol=1e-9, rtol=1e-9),
        )
    assert not (tmp_path / "out").exists()


def test_fp16_refuses_int8_and_extended(tmp_path: Path) -> None:
    sample = (torch.randn(4, 16),)
    with pytest.raises(InvalidRequestError, match="fp16 \\(GPU\\) and int8 \\(CPU\\) exclude each other"):
        package(_mlp(), name="half", version="1.0.0", sample=sample, out=tmp_path, precision="fp16", quantize="int8")
    with pytest.raises(ConversionError, match="use --optimize basic or none"):
        package(
            _mlp(), name="half", version="1.0.0", sample=sample, out=tmp_path, precision="fp16", optimize="extended"
        )
    with pytest.raises(InvalidRequestError, match="precision must be fp32 or fp16"):
        package(_mlp(), name="half", version="1.0.0", sample=sample, out=tmp_path, precision="bf16")  # type: ignore[arg-type]


def test_cli_precision_fp16(tmp_path: Path) -> None:
    path = tmp_path / "mlp.onnx"
    torch.onnx.export(_mlp(), (torch.randn(2, 16),), dynamo=True, verbose=False, input_names=["x"]).save(str(path))
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32))
    args = ["package", str(path), "--name", "mlp", "--version", "1.0.0", "--out", str(tmp_path / "b")]
    outcome = CliRunner().invoke(
        cli_app, [*args, "--sample", str(tmp_path / "x.npy"), "--precision", "fp16", "--measure"]
    )
    assert outcome.exit_code == 0, outcome.output
    assert "precision=fp16" in outcome.output
    assert "resident, ready in" in outcome.output  # --measure: the figures that size a Lambda
