"""The one parity rule: tolerances, worst element, label agreement, NaN, shapes, which report counts."""

from __future__ import annotations

import numpy as np
import pytest

from bundle import Manifest, Optimization, ParityCheck, ParityReport
from bundle.parity import (
    ACCELERATOR_ATOL,
    OutputMismatchError,
    Tolerances,
    align_expected,
    reproduces,
    tolerances_for,
    tolerances_from_report,
)

TOL = Tolerances(atol=1e-4, rtol=1e-3, min_label_agreement=0.9)


def test_within_atol_or_rtol_passes():
    expected = {"y": np.array([[0.0, 1000.0]])}
    actual = {"y": np.array([[5e-5, 1000.5]])}  # 5e-5 within atol, 0.5 within 1e-3 * 1000
    report, failures = reproduces(actual, expected, TOL)
    assert report.passed and not failures
    checks = {c.metric: c for c in report.checks}
    assert checks["max_abs_diff"].measured == pytest.approx(0.5) and not checks["max_abs_diff"].passed
    assert checks["max_rel_diff"].measured == pytest.approx(5e-4) and checks["max_rel_diff"].passed


def test_large_targets_pass_on_relative_error_and_fail_beyond_it():
    """A house-price regressor: float32 rounding gives an absolute error of ~0.01 at 250,000."""
    prices = np.array([[249_999.97], [312_000.5]])
    assert reproduces({"price": prices.astype(np.float32)}, {"price": prices}, TOL)[0].passed
    report, failures = reproduces({"price": prices + 1_000}, {"price": prices}, TOL)
    assert not report.passed
    assert failures[0].startswith("output 'price': worst element [0, 0]: onnxruntime 251000 vs original 250000")


def test_failure_names_output_worst_index_and_both_values():
    expected = {"scores": np.array([[0.1, 0.2], [0.3, 0.4]], dtype=np.float32)}
    actual = {"scores": np.array([[0.1, 0.2], [0.3, 0.9]], dtype=np.float32)}
    report, failures = reproduces(actual, expected, TOL)
    assert not report.passed
    assert failures[0].startswith("output 'scores': worst element [1, 1]: onnxruntime 0.9 vs original 0.4")


def test_labels_agreement_and_scores_on_agreeing_rows_only():
    expected = {"label": np.array(["a", "b", "a", "b"] * 5, dtype=object), "p": np.zeros((20, 2))}
    actual = {"label": expected["label"].copy(), "p": np.zeros((20, 2))}
    actual["label"][3] = "a"  # one flipped label near a boundary...
    actual["p"][3] = [0.6, 0.4]  # ...and its probabilities differ a lot
    report, failures = reproduces(actual, expected, TOL, label_output="label")
    assert report.passed, failures  # 19/20 agree >= 0.9; probabilities compared on agreeing rows
    assert report.checks[0].metric == "label_agreement" and report.checks[0].measured == pytest.approx(0.95)
    strict = Tolerances(min_label_agreement=1.0)
    report, failures = reproduces(actual, expected, strict, label_output="label")
    assert not report.passed and "first disagreement at [3]: onnxruntime 'a' vs original 'b'" in failures[0]


def test_integer_and_string_outputs_are_compared_by_agreement():
    expected = {"ids": np.arange(10, dtype=np.int64), "text": np.array(["x"] * 10)}  # stored unicode
    actual = {"ids": np.arange(10, dtype=np.int64), "text": np.array(["x"] * 10, dtype=object)}
    report, _ = reproduces(actual, expected, TOL)
    assert report.passed and [c.metric for c in report.checks] == ["label_agreement", "label_agreement"]
    actual["ids"] = actual["ids"] + np.array([1] + [0] * 9)
    assert reproduces(actual, expected, TOL)[0].passed  # 9 of 10 equal: exactly the minimum agreement
    actual["ids"][1] = 7
    report, failures = reproduces(actual, expected, TOL)
    assert not report.passed
    assert failures == [
        "output 'ids': label agreement 0.8000 < 0.9; first disagreement at [0]: onnxruntime 1 vs original 0"
    ]


def test_nan_and_infinity_match_themselves_only():
    expected = {"y": np.array([np.nan, 1.0, np.inf, -np.inf])}
    assert reproduces({"y": np.array([np.nan, 1.0, np.inf, -np.inf])}, expected, TOL)[0].passed
    report, failures = reproduces({"y": np.array([0.0, 1.0, np.inf, -np.inf])}, expected, TOL)
    assert not report.passed and "worst element [0]" in failures[0]
    report, failures = reproduces({"y": np.array([np.nan, 1.0, 1e30, -np.inf])}, expected, TOL)
    assert not report.passed and "worst element [2]" in failures[0]


def test_shapes_missing_outputs_and_scalars():
    # samples.npz keeps a 0-d output as [1]: same size, reshaped
    assert reproduces({"total": np.asarray(3.0)}, {"total": np.asarray([3.0])}, TOL)[0].passed
    assert not reproduces({"total": np.asarray(4.0)}, {"total": np.asarray([3.0])}, TOL)[0].passed
    _, failures = reproduces({"y": np.zeros((2, 3))}, {"y": np.zeros((2, 2))}, TOL)
    assert failures == ["output 'y' has shape [2, 3], the samples say [2, 2]"]
    _, failures = reproduces({}, {"y": np.zeros(2)}, TOL)
    assert failures == ["output 'y' is missing from the outputs"]
    assert reproduces({"y": np.zeros(2), "extra": np.ones(1)}, {"y": np.zeros(2)}, TOL)[0].passed


def test_align_expected_reshapes_or_refuses():
    aligned = align_expected({"y": np.arange(3.0)}, {"y": np.zeros((3, 1))})
    assert aligned["y"].shape == (3, 1)
    with pytest.raises(OutputMismatchError, match="no result for output 'z'"):
        align_expected({"y": np.arange(3.0)}, {"z": np.zeros(3)})


def test_tolerances_validate_and_roundtrip():
    with pytest.raises(ValueError):
        Tolerances(min_label_agreement=1.5)
    with pytest.raises(ValueError):
        Tolerances(atol=float("nan"))
    report, _ = reproduces(
        {"label": np.array([1]), "p": np.array([[1.0]])},
        {"label": np.array([1]), "p": np.array([[1.0]])},
        TOL,
        label_output="label",
    )
    assert tolerances_from_report(report) == TOL


def _manifest(parity: ParityReport, optimization: Optimization | None = None) -> Manifest:
    return Manifest.model_validate(
        {
            "name": "m",
            "version": "1.0.0",
            "created": "2026-01-01T00:00:00Z",
            "framework": {"name": "x", "version": "1"},
            "converter": {"name": "x", "version": "1"},
            "opsets": {"": 17},
            "inputs": [{"name": "x", "dtype": "float32", "shape": [None, 1]}],
            "outputs": [{"name": "y", "dtype": "float32", "shape": [None, 1]}],
            "parity": parity,
            "optimization": optimization,
            "files": {"model.onnx": {"sha256": "0" * 64, "size": 0}},
            "provenance": {"maaskit_version": "0", "python_version": "3.11"},
        }
    )


def _report(atol: float, rtol: float) -> ParityReport:
    checks = [
        ParityCheck(output="y", metric="max_abs_diff", tolerance=atol, measured=0.0, passed=True),
        ParityCheck(output="y", metric="max_rel_diff", tolerance=rtol, measured=0.0, passed=True),
    ]
    return ParityReport(sample_count=4, passed=True, checks=checks)


def test_tolerances_come_from_the_last_transformation_with_accelerator_slack():
    plain = _manifest(_report(1e-5, 1e-4))
    assert tolerances_for(plain) == Tolerances(atol=1e-5, rtol=1e-4)
    assert tolerances_for(plain, accelerator=True) == Tolerances(atol=ACCELERATOR_ATOL, rtol=1e-4)
    quantized = _manifest(
        _report(1e-5, 1e-4),
        Optimization(quantization="int8", size_before=10, size_after=5, parity=_report(0.05, 0.05)),
    )
    assert tolerances_for(quantized) == Tolerances(atol=0.05, rtol=0.05)
    assert tolerances_for(quantized, accelerator=True).atol == 0.05  # slack is a floor, never a tightening
