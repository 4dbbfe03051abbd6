"""The parity gate: the ONNX model must answer like the original on the samples.

The comparison itself is the bundle contract's tensor rule (:func:`bundle.parity.reproduces`, which
:func:`bundle.judge.judge` applies for ``verify``, warm-up, the deploy-time check and the hook); this module runs
the ONNX model through onnxruntime and turns a failed comparison into :class:`ParityError`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bundle import ParityReport
from bundle.parity import DEFAULT_TOLERANCES, FP16_TOLERANCES, INT8_TOLERANCES, Tolerances, reproduces
from model_packager.converters.base import ConversionError
from model_packager.signature import as_ort_feed

__all__ = [
    "DEFAULT_TOLERANCES",
    "FP16_TOLERANCES",
    "INT8_TOLERANCES",
    "ParityError",
    "Tolerances",
    "check_parity",
    "run_onnx",
]


class ParityError(Exception):
    """The ONNX model does not match the original within tolerance (CLI exit code 1)."""

    def __init__(self, message: str, report: ParityReport, stage: str) -> None:
        super().__init__(message)
        self.report = report
        self.stage = stage


def run_onnx(model: bytes | Path, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run ``feed`` through onnxruntime (CPU) and key the results by output name.

    ``model``: the model bytes, or the path of model.onnx (required when it has external data:
    onnxruntime finds ``model.onnx.data`` beside the path).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Prepacked weight copies would double the memory of a large model for one parity run.
    options.add_session_config_entry("session.disable_prepacking", "1")
    source = model if isinstance(model, bytes) else str(model)
    try:
        session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        names = [output.name for output in session.get_outputs()]
        results = session.run(names, as_ort_feed(feed))
    except Exception as exc:
        raise ConversionError(f"onnxruntime cannot run the converted model: {type(exc).__name__}: {exc}") from None
    return {name: np.asarray(value) for name, value in zip(names, results, strict=True)}


def check_parity(
    model_bytes: bytes | Path,
    *,
    feed: dict[str, np.ndarray],
    expected: dict[str, np.ndarray],
    tolerances: Tolerances,
    label_output: str | None,
    stage: str,
) -> ParityReport:
    """Run the ONNX model and compare with ``expected``; raise ParityError naming the worst element."""
    report, failures = reproduces(run_onnx(model_bytes, feed), expected, tolerances, label_output)
    if failures:
        raise ParityError(f"parity failed after {stage}: " + "; ".join(failures), report, stage)
    return report
