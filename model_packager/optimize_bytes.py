"""The optimizer steps for models held in memory (text and image models, well under the external-data size).

``model_packager.optimize`` works on staged files so that models over 2 GB are never held in memory;
the text and image gates hold their (small) model as bytes. These adapters stage the bytes in a
temporary folder, run the same step, and read the result back: one optimizer, two ways in.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bundle import MODEL_FILE, Optimization
from model_packager.model_files import StagedModel
from model_packager.optimize import GraphLevel, Quantization, apply_optimizations, optimize_graph, quantize_int8
from model_packager.parity import Tolerances

__all__ = ["apply_optimizations_in_memory", "optimize_graph_in_memory", "quantize_int8_in_memory"]


def _staged(model_bytes: bytes, folder: Path) -> StagedModel:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MODEL_FILE).write_bytes(model_bytes)
    return StagedModel(folder / MODEL_FILE)


def _read(model: StagedModel) -> bytes:
    if model.data is not None:
        raise ValueError("an in-memory optimization produced external data; package the model from a file")
    return model.path.read_bytes()


def optimize_graph_in_memory(model_bytes: bytes, level: GraphLevel) -> bytes:
    """``optimize_graph`` on model bytes."""
    with tempfile.TemporaryDirectory(prefix="maaskit-opt-") as tmp:
        return _read(optimize_graph(_staged(model_bytes, Path(tmp) / "in"), level, Path(tmp) / "out"))


def quantize_int8_in_memory(model_bytes: bytes, keep_fp32: Sequence[str] = ()) -> bytes:
    """``quantize_int8`` on model bytes (``keep_fp32``: nodes left unquantized)."""
    with tempfile.TemporaryDirectory(prefix="maaskit-int8-") as tmp:
        return _read(quantize_int8(_staged(model_bytes, Path(tmp) / "in"), Path(tmp) / "out", keep_fp32))


def apply_optimizations_in_memory(
    model_bytes: bytes,
    feed: dict[str, np.ndarray],
    expected: dict[str, np.ndarray],
    *,
    graph_level: GraphLevel,
    quantization: Quantization,
    tolerances: Tolerances,
    int8_tolerances: Tolerances,
    label_output: str | None,
) -> tuple[bytes, Optimization | None]:
    """``apply_optimizations`` on model bytes; the optimized model comes back as bytes."""
    with tempfile.TemporaryDirectory(prefix="maaskit-optimize-") as tmp:
        final, optimization = apply_optimizations(
            _staged(model_bytes, Path(tmp) / "in"),
            feed,
            expected,
            graph_level=graph_level,
            quantization=quantization,
            tolerances=tolerances,
            int8_tolerances=int8_tolerances,
            label_output=label_output,
            workdir=Path(tmp),
        )
        return _read(final), optimization
