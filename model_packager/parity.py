"""The parity gate: the ONNX model must answer like the original on the samples.

Every output is compared element by element. An element is within tolerance when
``|onnx - original| <= atol``, or, beyond that, when ``|onnx - original| <= rtol *
|original|``. Two checks record this per output: ``max_abs_diff`` (over all
elements, against ``atol``) and ``max_rel_diff`` (over the elements beyond
``atol`` only, against ``rtol``); the output passes when its ``max_rel_diff``
check does, i.e. when every element is within one of the two tolerances.

For classifiers, the label output is checked by ``label_agreement`` (share of
rows with the same label, against ``min_label_agreement``) and the other outputs
are compared on the rows whose labels agree: a float32 threshold can flip a
label near a decision boundary, which the agreement metric bounds explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bundle import ParityCheck, ParityReport
from model_packager.converters.base import ConversionError
from model_packager.signature import as_ort_feed

__all__ = [
    "DEFAULT_TOLERANCES",
    "FP16_TOLERANCES",
    "INT8_TOLERANCES",
    "ParityError",
    "Tolerances",
    "align_expected",
    "check_parity",
    "compare_outputs",
    "run_onnx",
    "tolerances_from_report",
]


@dataclass(frozen=True)
class Tolerances:
    """How close the ONNX model must be to the original."""

    atol: float = 1e-4
    rtol: float = 1e-3
    min_label_agreement: float = 0.99

    def __post_init__(self) -> None:
        if self.atol < 0 or self.rtol < 0:
            raise ValueError("atol and rtol must be >= 0")
        if not 0.0 <= self.min_label_agreement <= 1.0:
            raise ValueError("min_label_agreement must be between 0 and 1")


DEFAULT_TOLERANCES = Tolerances()
#: Dynamic INT8 quantization trades accuracy for size: looser, explicit, recorded in the manifest.
INT8_TOLERANCES = Tolerances(atol=0.05, rtol=0.05, min_label_agreement=0.95)
#: fp16 keeps ~3 significant digits (10-bit mantissa) and accumulates in half precision on some kernels.
FP16_TOLERANCES = Tolerances(atol=1e-2, rtol=1e-2, min_label_agreement=0.98)


def tolerances_from_report(report: ParityReport) -> Tolerances:
    """The tolerances a recorded report was measured against (defaults for metrics it lacks)."""
    found = {check.metric: check.tolerance for check in report.checks}
    return Tolerances(
        atol=found.get("max_abs_diff", DEFAULT_TOLERANCES.atol),
        rtol=found.get("max_rel_diff", DEFAULT_TOLERANCES.rtol),
        min_label_agreement=found.get("label_agreement", DEFAULT_TOLERANCES.min_label_agreement),
    )


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


def align_expected(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reshape the original's outputs to the ONNX shapes (e.g. ``(n,)`` -> ``(n, 1)``) when sizes agree."""
    aligned: dict[str, np.ndarray] = {}
    for name, value in actual.items():
        if name not in expected:
            raise ConversionError(f"the original model gave no result for ONNX output {name!r}")
        reference = np.asarray(expected[name])
        if reference.shape != value.shape:
            if reference.size != value.size:
                raise ConversionError(
                    f"output {name!r}: onnxruntime gives shape {list(value.shape)}, "
                    f"the original model {list(reference.shape)}"
                )
            reference = reference.reshape(value.shape)
        aligned[name] = reference
    return aligned


def _is_text(array: np.ndarray) -> bool:
    return array.dtype.kind in {"U", "S", "O"}


def _labels_equal(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    if _is_text(actual) or _is_text(expected):
        return np.asarray(actual.astype(str) == expected.astype(str))
    return np.asarray(actual == expected)


def _fmt(value: Any) -> str:
    value = value.item() if isinstance(value, np.generic) else value
    return f"{value:.6g}" if isinstance(value, float) else repr(value)


def _label_check(
    name: str, actual: np.ndarray, expected: np.ndarray, tol: Tolerances
) -> tuple[ParityCheck, str | None]:
    equal = _labels_equal(actual, expected)
    agreement = float(equal.mean()) if equal.size else 1.0
    passed = agreement >= tol.min_label_agreement
    check = ParityCheck(
        output=name, metric="label_agreement", tolerance=tol.min_label_agreement, measured=agreement, passed=passed
    )
    if passed:
        return check, None
    index = tuple(int(i) for i in np.argwhere(~equal)[0])
    return check, (
        f"output {name!r}: label agreement {agreement:.4f} < {tol.min_label_agreement}; first disagreement at "
        f"{list(index)}: onnxruntime {_fmt(actual[index])} vs original {_fmt(expected[index])}"
    )


def _numeric_checks(
    name: str, actual: np.ndarray, expected: np.ndarray, rows: np.ndarray | None, tol: Tolerances
) -> tuple[list[ParityCheck], str | None]:
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    if rows is not None and a.ndim and a.shape[0] == rows.shape[0]:
        kept = np.flatnonzero(rows)
        a, e = a[kept], e[kept]
    else:
        kept = None
    both_nan = np.isnan(a) & np.isnan(e)
    diff = np.where(both_nan, 0.0, np.abs(a - e))
    diff = np.where(np.isnan(diff), np.inf, diff)
    max_abs = float(diff.max()) if diff.size else 0.0
    beyond = diff > tol.atol
    rel = np.where(beyond, diff / np.maximum(np.abs(e), np.finfo(np.float64).tiny), 0.0)
    max_rel = float(rel.max()) if rel.size else 0.0
    rel_passed = max_rel <= tol.rtol
    checks = [
        ParityCheck(
            output=name, metric="max_abs_diff", tolerance=tol.atol, measured=max_abs, passed=max_abs <= tol.atol
        ),
        ParityCheck(output=name, metric="max_rel_diff", tolerance=tol.rtol, measured=max_rel, passed=rel_passed),
    ]
    if rel_passed:
        return checks, None
    flat = int(np.argmax(np.where(beyond, diff - tol.rtol * np.abs(e), -np.inf)))
    local = np.unravel_index(flat, diff.shape)
    index = (int(kept[local[0]]), *map(int, local[1:])) if kept is not None else tuple(map(int, local))
    return checks, (
        f"output {name!r}: worst element {list(index)}: onnxruntime {_fmt(float(a[local]))} vs original "
        f"{_fmt(float(e[local]))} (abs diff {_fmt(float(diff[local]))} > atol {tol.atol}, "
        f"rel diff {_fmt(float(rel[local]))} > rtol {tol.rtol})"
    )


def compare_outputs(
    actual: dict[str, np.ndarray],
    expected: dict[str, np.ndarray],
    tolerances: Tolerances,
    label_output: str | None = None,
) -> tuple[ParityReport, list[str]]:
    """Compare every output; return the report and one message per failing output."""
    checks: list[ParityCheck] = []
    failures: list[str] = []
    rows: np.ndarray | None = None
    if label_output is not None and label_output in actual:
        check, failure = _label_check(label_output, actual[label_output], expected[label_output], tolerances)
        checks.append(check)
        failures += [failure] if failure else []
        equal = _labels_equal(actual[label_output], expected[label_output])
        rows = np.asarray(equal.reshape(actual[label_output].shape[0], -1).all(axis=1))
    for name, value in actual.items():
        if name == label_output:
            continue
        if _is_text(value) or _is_text(expected[name]):
            check, failure = _label_check(name, value, expected[name], tolerances)
            output_checks = [check]
        else:
            output_checks, failure = _numeric_checks(name, value, expected[name], rows, tolerances)
        checks += output_checks
        failures += [failure] if failure else []
    first = next(iter(actual.values()))
    count = int(first.shape[0]) if first.ndim else 1
    return ParityReport(sample_count=count, passed=not failures, checks=checks), failures


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
    actual = run_onnx(model_bytes, feed)
    report, failures = compare_outputs(actual, align_expected(expected, actual), tolerances, label_output)
    if failures:
        raise ParityError(f"parity failed after {stage}: " + "; ".join(failures), report, stage)
    return report
