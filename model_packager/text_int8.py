"""int8 for text models that keeps the parity gate: SmoothQuant, then fp32 for the MatMuls that need it.

1. :func:`model_packager.int8_smooth.smooth_for_int8` migrates activation outliers into the weights,
   calibrated on the sample texts (each alone, as a batch-1 request quantizes, and all in one batch).
2. onnxruntime's dynamic per-channel int8 (``quantize_int8``) quantizes every MatMul.
3. When the worst text falls short of the target, the MatMul inputs whose simulated int8 error is
   largest are left in fp32, one group at a time, at most a quarter of them, until it passes.

The target is the gate's ``min_cosine`` with a margin (a fifth of the way to 1), so a bundle that
passes here has room left on texts the gate never saw; when no step reaches the margin, the most
faithful step that still passes the gate is taken. If none passes, packaging fails with the figures.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from bundle import ParityReport
from bundle.parity_text import TextTolerances
from bundle.processing.text import EncodedBatch
from model_packager.int8_smooth import SmoothedGroup, SmoothedModel, smooth_for_int8
from model_packager.optimize_bytes import quantize_int8_in_memory
from model_packager.parity import ParityError

__all__ = ["MARGIN_SHARE", "quantize_text_int8"]

#: The search aims this share of the way from the gate's min_cosine to 1.
MARGIN_SHARE = 0.2
#: At most this share of the smoothed MatMul inputs may stay in fp32.
MAX_FP32_SHARE = 0.25

Check = Callable[[bytes, TextTolerances], ParityReport]
logger = logging.getLogger(__name__)


def _min_cosine(report: ParityReport) -> float | None:
    values = [check.measured for check in report.checks if check.metric == "min_cosine"]
    return min(values) if values else None


def quantize_text_int8(
    model_bytes: bytes, encoded: EncodedBatch, gate: TextTolerances, check: Check
) -> tuple[bytes, ParityReport, str]:
    """The int8 model, its parity report against ``gate`` and a line saying how it was made.

    ``check(model, text_tolerances)`` runs the raw-text parity gate and raises ParityError on failure.
    """
    try:
        smoothed = smooth_for_int8(model_bytes, encoded.feed)
    except Exception as exc:  # an operator the calibration probe cannot expose: quantize as it is
        logger.warning("SmoothQuant skipped (%s: %s); quantizing the graph as it is", type(exc).__name__, exc)
        smoothed = SmoothedModel(model_bytes, ())
    target = dataclasses.replace(gate, min_cosine=gate.min_cosine + MARGIN_SHARE * (1.0 - gate.min_cosine))
    order = smoothed.exclusion_order()
    steps = int(len(order) * MAX_FP32_SHARE)
    fallback: tuple[float, bytes, ParityReport, int] | None = None
    failure: ParityError | None = None
    for kept in range(steps + 1):
        keep_fp32 = [name for group in order[:kept] for name in group]
        candidate = quantize_int8_in_memory(smoothed.model, keep_fp32)
        try:
            report = check(candidate, gate)
        except ParityError as exc:
            failure = failure or exc
            continue
        cosine = _min_cosine(report)
        if cosine is None or cosine >= target.min_cosine:
            return candidate, report, _how(smoothed.groups, kept, cosine)
        if fallback is None or cosine > fallback[0]:
            fallback = (cosine, candidate, report, kept)
    if fallback is not None:
        cosine, candidate, report, kept = fallback
        return candidate, report, _how(smoothed.groups, kept, cosine)
    assert failure is not None
    raise ParityError(
        f"{failure} (int8 was tried with SmoothQuant and with up to {steps} of {len(order)} MatMul inputs "
        "kept in fp32; package this model without --quantize int8)",
        failure.report,
        failure.stage,
    )


def _how(groups: tuple[SmoothedGroup, ...], kept: int, cosine: float | None) -> str:
    worst = "" if cosine is None else f", worst-text cosine {cosine:.4f}"
    if not groups:
        return f"int8 (dynamic, per-channel), without SmoothQuant{worst}"
    smoothed = sum(1 for group in groups if group.alpha >= 0)
    return (
        f"int8 (dynamic, per-channel) after SmoothQuant on {smoothed} of {len(groups)} MatMul and Attention inputs; "
        f"{kept} input(s) kept in fp32{worst}"
    )
