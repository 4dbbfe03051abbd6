"""The text part of ``package()``: raw-text parity, optimizations, samples and manifest fields.

``model_packager.api.package`` converts; for a text model (a ``TextConversion``) it hands the
parity gate, the optimizations and the text samples to ``gate_text``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bundle import FileEntry, Optimization, ParityReport
from bundle.parity_text import TextTolerances
from bundle.tolerances import DEFAULT_TEXT_TOLERANCES
from model_packager.converters.base import Conversion
from model_packager.converters.transformers_text import TextConversion
from model_packager.parity import ParityError
from model_packager.text_optimize import TextGates, optimize_text
from model_packager.text_parity import compare_text_outputs

__all__ = [
    "DEFAULT_TEXT_TOLERANCES",
    "GateResult",
    "TextTolerances",
    "gate_text",
    "placeholder_files",
    "text_inputs",
]

#: fp32 embeddings: cosine >= 0.9999 on every text, retrieval ranking unchanged.


@dataclass(frozen=True)
class GateResult:
    """What a parity gate hands back to ``package()``: the parity, the final model, samples, manifest fields."""

    parity: ParityReport
    model_bytes: bytes
    optimization: Optimization | None
    sample_inputs: dict[str, np.ndarray]
    sample_outputs: dict[str, np.ndarray]
    manifest_fields: dict[str, Any]


def placeholder_files(conversion: Conversion) -> dict[str, FileEntry]:
    """The manifest's ``files`` before writing: model.onnx to be filled, text files with their real sha256."""
    files = {"model.onnx": FileEntry(sha256="0" * 64, size=0)}
    if isinstance(conversion, TextConversion):
        for name, payload in conversion.files.items():
            files[name] = FileEntry(sha256=hashlib.sha256(payload).hexdigest(), size=len(payload))
    return files


def text_inputs(texts: Sequence[str]) -> dict[str, np.ndarray]:
    """The raw-text sample input as samples.npz stores it (also what the reference statistics describe)."""
    return {"text": np.asarray(texts, dtype=str)}


def _stored(
    conversion: TextConversion, max_rows: int, notes: list[str]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """samples.npz: the raw texts and the ORIGINAL outputs, re-encodable to the same shapes."""
    assert conversion.encoded is not None
    texts = conversion.texts[:max_rows]
    longest = max(conversion.encoded.token_counts[:max_rows])
    outputs = {}
    for name, value in conversion.expected.items():
        kept = np.asarray(value)[: len(texts)]
        outputs[name] = kept[:, :longest] if kept.ndim == 3 else kept
    if len(conversion.texts) > max_rows:
        notes.append(f"parity measured on {len(conversion.texts)} texts; samples.npz keeps the first {max_rows}")
    return text_inputs(texts), outputs


def gate_text(
    conversion: TextConversion,
    model_bytes: bytes,
    *,
    graph_level: str,
    quantization: str,
    gates: TextGates,
    notes: list[str],
    max_rows: int,
) -> GateResult:
    """Raw-text parity of the export, then the asked optimizations, each re-checked the same way."""
    from model_packager.parity import run_onnx

    assert conversion.encoded is not None and conversion.text_spec is not None
    task = conversion.task
    actual = run_onnx(model_bytes, conversion.encoded.feed)
    parity, failures = compare_text_outputs(
        task,
        actual=actual,
        expected=conversion.expected,
        encoded=conversion.encoded,
        tolerances=gates.fp32,
        text_tolerances=gates.text,
    )
    if failures:
        raise ParityError("parity failed: " + "; ".join(failures), parity, "conversion")
    final, optimization = optimize_text(
        model_bytes,
        task=task,
        encoded=conversion.encoded,
        expected=conversion.expected,
        graph_level=graph_level,
        quantization=quantization,
        gates=gates,
        num_heads=conversion.num_heads,
        hidden_size=conversion.hidden_size,
        notes=notes,
    )
    inputs, outputs = _stored(conversion, max_rows, notes)
    fields: dict[str, Any] = {"text": conversion.text_spec, "embedding": conversion.embedding}
    return GateResult(parity, final, optimization, inputs, outputs, fields)
