"""CPU speed-ups for text models, each re-checked by the raw-text parity gate.

* ``transformer``: onnxruntime's transformer optimizer (``onnxruntime.transformers.optimizer``,
  model type ``bert``, python fusions only: ``opt_level=0``) fuses Attention, EmbedLayerNormalization,
  SkipLayerNormalization and (Bias/Fast)Gelu into onnxruntime contrib ops. Portable: the fused graph
  is not tied to the build machine's CPU.
* ``basic`` / ``extended``: onnxruntime's own offline graph optimizer, as for any bundle.
* ``int8``: SmoothQuant, then dynamic per-channel quantization, with the MatMuls int8 hurts most
  left in fp32 when the gate asks for it (``model_packager.text_int8``).

The transformer fusion runs first, so int8 quantizes the fused Attention too (QAttention, its input
smoothed like every MatMul's): on all-MiniLM-L6-v2 this is 1.15-1.25x faster at batch 1 than
quantizing the unfused graph, whose attention stays a chain of small reshapes, at the same gate.
onnxruntime's own basic/extended optimization runs after int8; one that makes the quantized model
larger is refused with the sizes. A step whose parity drops below its gate (cosine >= 0.99 after
int8, >= 0.9999 fp32) fails packaging with the figures.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bundle import Optimization, ParityReport
from bundle.parity_text import TextTolerances
from bundle.processing.text import EncodedBatch
from bundle.tolerances import INT8_TEXT_TOLERANCES
from model_packager.converters.base import ConversionError, PackagingError
from model_packager.optimize_bytes import optimize_graph_in_memory
from model_packager.parity import Tolerances
from model_packager.text_int8 import quantize_text_int8
from model_packager.text_parity import check_text_parity

__all__ = ["INT8_TEXT_TOLERANCES", "OptimizationRefusedError", "TextGates", "fuse_transformer", "optimize_text"]


class OptimizationRefusedError(PackagingError):
    """An optimization would make the bundle worse (larger after quantization)."""


class TextGates:
    """The tolerances of each stage: fp32 (element-wise + text) and int8 (looser, recorded)."""

    def __init__(self, fp32: Tolerances, int8: Tolerances, text: TextTolerances, int8_text: TextTolerances) -> None:
        self.fp32, self.int8, self.text, self.int8_text = fp32, int8, text, int8_text


def fuse_transformer(model_bytes: bytes, num_heads: int, hidden_size: int) -> tuple[bytes, dict[str, int]]:
    """Run onnxruntime's bert fusions; return the fused graph and the count of each fused operator."""
    from onnxruntime.transformers import optimizer

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the optimizer logs every fusion attempt
    try:
        with tempfile.TemporaryDirectory(prefix="maaskit-fuse-") as tmp:
            source, target = Path(tmp) / "model.onnx", Path(tmp) / "fused.onnx"
            source.write_bytes(model_bytes)
            fused: Any = optimizer.optimize_model(
                str(source), model_type="bert", num_heads=num_heads, hidden_size=hidden_size, opt_level=0
            )
            stats = {name: int(count) for name, count in fused.get_fused_operator_statistics().items() if count}
            fused.save_model_to_file(str(target))
            return target.read_bytes(), stats
    except Exception as exc:
        raise ConversionError(f"onnxruntime's transformer optimizer failed: {type(exc).__name__}: {exc}") from None
    finally:
        root.setLevel(level)


def optimize_text(
    model_bytes: bytes,
    *,
    task: str,
    encoded: EncodedBatch,
    expected: dict[str, np.ndarray],
    graph_level: str,
    quantization: str,
    gates: TextGates,
    num_heads: int,
    hidden_size: int,
    notes: list[str],
) -> tuple[bytes, Optimization | None]:
    """Fuse (transformer), quantize, then optimize the graph (basic/extended); re-check raw-text parity after each."""
    if graph_level == "none" and quantization == "none":
        return model_bytes, None
    current = model_bytes
    report: ParityReport | None = None
    tolerances, text_tolerances = gates.fp32, gates.text

    def check(model: bytes, stage: str, text_gate: TextTolerances | None = None) -> ParityReport:
        return check_text_parity(
            model,
            task=task,
            encoded=encoded,
            expected=expected,
            tolerances=tolerances,
            text_tolerances=text_gate or text_tolerances,
            stage=stage,
        )

    if graph_level == "transformer":  # first: int8 then quantizes the fused Attention itself (QAttention)
        current, stats = fuse_transformer(current, num_heads, hidden_size)
        fused = ", ".join(f"{name} {count}" for name, count in sorted(stats.items())) or "nothing"
        notes.append(f"transformer optimizer fused: {fused}")
        report = check(current, "transformer optimization")
    if quantization == "int8":
        before = current
        tolerances, text_tolerances = gates.int8, gates.int8_text
        current, report, how = quantize_text_int8(
            current, encoded, text_tolerances, lambda model, gate: check(model, "int8 quantization", gate)
        )
        notes.append(f"{how}: {_mb(before)} -> {_mb(current)}")
    if graph_level not in ("none", "transformer"):
        before = current
        current = optimize_graph_in_memory(current, graph_level)  # type: ignore[arg-type]
        if quantization == "int8" and len(current) > len(before):
            raise OptimizationRefusedError(
                f"{graph_level} graph optimization would make the int8 model larger ({_mb(before)} -> "
                f"{_mb(current)}): refused; package with --quantize int8 alone, or optimize without quantizing"
            )
        report = check(current, f"{graph_level} optimization")
    assert report is not None
    return current, Optimization(
        graph_level=graph_level,  # type: ignore[arg-type]
        quantization=quantization,  # type: ignore[arg-type]
        size_before=len(model_bytes),
        size_after=len(current),
        parity=report,
    )


def _mb(payload: bytes) -> str:
    return f"{len(payload) / 1e6:.2f} MB"
