"""The element-wise rule: do a model's outputs reproduce reference outputs within tolerance?

:func:`reproduces` is the tensor rule the packager's parity gate applies (ONNX model versus the
original) and that :func:`bundle.judge.judge`, the one judge of a bundle's samples (``verify``,
warm-up, the deploy-time check, the pre-traffic hook), applies to tensor and image bundles and, through
:mod:`bundle.parity_text`, to text bundles. Tolerance defaults live in :mod:`bundle.tolerances`.

The tolerance model (:class:`Tolerances`):

* a float output passes when EVERY element is within ``atol`` of the sample, or within
  ``rtol * |sample|`` (absolute OR relative, so both 1e-6 probabilities and 1e7 prices work);
  NaN matches NaN and an infinity matches the same infinity;
* the classifier's label output, and every string, integer or boolean output, is compared by
  ``label_agreement``: the share of equal elements must be at least ``min_label_agreement``;
* rows whose label flipped (a float32 threshold near a decision boundary) are left out of the
  numeric comparison of the other outputs: the agreement metric bounds them explicitly;
* the tolerances of a bundle are those of the report of the LAST transformation applied to
  model.onnx (:func:`tolerances_for`: the optimization/quantization parity when there is one,
  else the conversion parity), and a session on an accelerator (CUDA, TensorRT) gets at least
  :data:`ACCELERATOR_ATOL`, since its kernels legitimately differ from the CPU ones measured.

Failure messages name the output, the worst element and both values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bundle.manifest import Manifest, ParityCheck, ParityReport
from bundle.tolerances import ACCELERATOR_ATOL, DEFAULT_TOLERANCES, FP16_TOLERANCES, INT8_TOLERANCES, Tolerances

__all__ = [
    "ACCELERATOR_ATOL",
    "DEFAULT_TOLERANCES",
    "FP16_TOLERANCES",
    "INT8_TOLERANCES",
    "OutputMismatchError",
    "Tolerances",
    "align_expected",
    "final_parity",
    "reproduces",
    "tolerances_for",
    "tolerances_from_report",
]


class OutputMismatchError(ValueError):
    """The outputs and the samples do not name or shape the same tensors."""


def tolerances_from_report(report: ParityReport) -> Tolerances:
    """The tolerances a recorded report was measured against (defaults for metrics it lacks)."""
    found = {check.metric: check.tolerance for check in report.checks}
    return Tolerances(
        atol=found.get("max_abs_diff", DEFAULT_TOLERANCES.atol),
        rtol=found.get("max_rel_diff", DEFAULT_TOLERANCES.rtol),
        min_label_agreement=found.get("label_agreement", DEFAULT_TOLERANCES.min_label_agreement),
    )


def final_parity(manifest: Manifest) -> ParityReport:
    """The parity report of the model.onnx the bundle holds: after optimizations when any were applied."""
    return manifest.optimization.parity if manifest.optimization else manifest.parity


def tolerances_for(manifest: Manifest, *, accelerator: bool = False) -> Tolerances:
    """The tolerances a bundle's samples are checked with (last transformation's report, accelerator slack)."""
    tolerances = tolerances_from_report(final_parity(manifest))
    return tolerances.with_accelerator_slack() if accelerator else tolerances


def align_expected(expected: Mapping[str, np.ndarray], actual: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every ``actual`` output's expected values, reshaped to its shape (``(n,)`` -> ``(n, 1)``) when sizes agree.

    Raises OutputMismatchError when an output has no expected values or a different size.
    """
    aligned: dict[str, np.ndarray] = {}
    for name, value in actual.items():
        if name not in expected:
            raise OutputMismatchError(f"the original model gave no result for output {name!r}")
        reference = _aligned(name, np.asarray(value), np.asarray(expected[name]))
        if isinstance(reference, str):
            raise OutputMismatchError(reference)
        aligned[name] = reference
    return aligned


def _aligned(name: str, actual: np.ndarray, expected: np.ndarray) -> np.ndarray | str:
    if expected.shape == actual.shape:
        return expected
    if expected.size != actual.size:
        return f"output {name!r} has shape {list(actual.shape)}, the samples say {list(expected.shape)}"
    return expected.reshape(actual.shape)


def _is_text(array: np.ndarray) -> bool:
    return array.dtype.kind in {"U", "S", "O"}


def _is_exact(actual: np.ndarray, expected: np.ndarray) -> bool:
    """Compared by agreement: strings on either side, or integers/booleans on both."""
    return _is_text(actual) or _is_text(expected) or (actual.dtype.kind in "iub" and expected.dtype.kind in "iub")


def _equal(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    if _is_text(actual) or _is_text(expected):
        return np.asarray(_as_text(actual) == _as_text(expected))
    return np.asarray(actual == expected)


def _as_text(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind == "S" or (array.dtype == object and any(isinstance(item, bytes) for item in array.flat)):
        decode = np.vectorize(lambda item: item.decode() if isinstance(item, bytes) else str(item), otypes=[str])
        return np.asarray(decode(array))
    return array.astype(str)


def _fmt(value: Any) -> str:
    value = value.item() if isinstance(value, np.generic) else value
    return f"{value:.6g}" if isinstance(value, float) else repr(value)


def _agreement_check(
    name: str, actual: np.ndarray, expected: np.ndarray, tol: Tolerances
) -> tuple[ParityCheck, str | None]:
    equal = _equal(actual, expected)
    agreement = float(equal.mean()) if equal.size else 1.0
    passed = agreement >= tol.min_label_agreement
    check = ParityCheck(
        output=name, metric="label_agreement", tolerance=tol.min_label_agreement, measured=agreement, passed=passed
    )
    if passed:
        return check, None
    index = tuple(int(i) for i in np.argwhere(~equal)[0]) if equal.ndim else ()
    return check, (
        f"output {name!r}: label agreement {agreement:.4f} < {tol.min_label_agreement}; first disagreement at "
        f"{list(index)}: onnxruntime {_fmt(actual[index])} vs original {_fmt(expected[index])}"
    )


def _numeric_checks(
    name: str, actual: np.ndarray, expected: np.ndarray, rows: np.ndarray | None, tol: Tolerances
) -> tuple[list[ParityCheck], str | None]:
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    kept: np.ndarray | None = None
    if rows is not None and a.ndim and a.shape[0] == rows.shape[0]:
        kept = np.flatnonzero(rows)
        a, e = a[kept], e[kept]
    with np.errstate(invalid="ignore", over="ignore"):
        same = (a == e) | (np.isnan(a) & np.isnan(e))  # equal infinities and NaN against NaN
        diff = np.where(same, 0.0, np.abs(a - e))
        diff = np.where(np.isnan(diff), np.inf, diff)
        beyond = diff > tol.atol
        rel = np.where(beyond, diff / np.maximum(np.abs(e), np.finfo(np.float64).tiny), 0.0)
        rel = np.where(np.isnan(rel), np.inf, rel)
    max_abs = float(diff.max()) if diff.size else 0.0
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
    with np.errstate(invalid="ignore", over="ignore"):
        excess = np.where(beyond, diff - tol.rtol * np.abs(e), -np.inf)
    flat = int(np.argmax(np.where(np.isnan(excess), np.inf, excess)))
    local = np.unravel_index(flat, diff.shape)
    index = (int(kept[local[0]]), *map(int, local[1:])) if kept is not None else tuple(map(int, local))
    return checks, (
        f"output {name!r}: worst element {list(index)}: onnxruntime {_fmt(float(a[local]))} vs original "
        f"{_fmt(float(e[local]))} (abs diff {_fmt(float(diff[local]))} > atol {tol.atol}, "
        f"rel diff {_fmt(float(rel[local]))} > rtol {tol.rtol})"
    )


def _agreeing_rows(actual: np.ndarray, expected: np.ndarray) -> np.ndarray | None:
    if not actual.ndim:
        return None
    equal = _equal(actual, expected)
    return np.asarray(equal.reshape(actual.shape[0], -1).all(axis=1))


def reproduces(
    actual: Mapping[str, np.ndarray],
    expected: Mapping[str, np.ndarray],
    tolerances: Tolerances,
    label_output: str | None = None,
) -> tuple[ParityReport, list[str]]:
    """Do ``actual`` outputs reproduce the ``expected`` ones (the samples) within ``tolerances``?

    Every expected output must be in ``actual`` with the same number of elements (it is reshaped
    when only the shape differs, e.g. a 0-d output stored as ``[1]``); outputs without expected
    values are not judged. Returns the report and one message per failing output: the outputs
    reproduce the samples when the message list is empty.
    """
    checks: list[ParityCheck] = []
    failures: list[str] = []
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, want in expected.items():
        if name not in actual:
            failures.append(f"output {name!r} is missing from the outputs")
            continue
        got = np.asarray(actual[name])
        reference = _aligned(name, got, np.asarray(want))
        if isinstance(reference, str):
            failures.append(reference)
            continue
        pairs[name] = (got, reference)
    rows: np.ndarray | None = None
    if label_output is not None and label_output in pairs:
        got, want = pairs.pop(label_output)
        check, failure = _agreement_check(label_output, got, want, tolerances)
        checks.append(check)
        failures += [failure] if failure else []
        rows = _agreeing_rows(got, want)
    for name, (got, want) in pairs.items():
        if _is_exact(got, want):
            check, failure = _agreement_check(name, got, want, tolerances)
            output_checks = [check]
        else:
            output_checks, failure = _numeric_checks(name, got, want, rows, tolerances)
        checks += output_checks
        failures += [failure] if failure else []
    first = next((np.asarray(value) for value in expected.values()), np.zeros(0))
    count = int(first.shape[0]) if first.ndim else 1
    return ParityReport(sample_count=count, passed=not failures, checks=checks), failures
