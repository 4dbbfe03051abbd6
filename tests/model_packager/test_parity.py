"""The parity comparison itself: tolerances, worst element, label agreement, NaN handling."""

from __future__ import annotations

import numpy as np
import pytest

from model_packager.parity import Tolerances, compare_outputs, tolerances_from_report

TOL = Tolerances(atol=1e-4, rtol=1e-3, min_label_agreement=0.9)


def test_within_atol_or_rtol_passes():
    expected = {"y": np.array([[0.0, 1000.0]])}
    actual = {"y": np.array([[5e-5, 1000.5]])}  # 5e-5 within atol, 0.5 within 1e-3 * 1000
    report, failures = compare_outputs(actual, expected, TOL)
    assert report.passed and not failures
    checks = {c.metric: c for c in report.checks}
    assert checks["max_abs_diff"].measured == pytest.approx(0.5) and not checks["max_abs_diff"].passed
    assert checks["max_rel_diff"].measured == pytest.approx(5e-4) and checks["max_rel_diff"].passed


def test_failure_names_output_worst_index_and_both_values():
    expected = {"scores": np.array([[0.1, 0.2], [0.3, 0.4]], dtype=np.float32)}
    actual = {"scores": np.array([[0.1, 0.2], [0.3, 0.9]], dtype=np.float32)}
    report, failures = compare_outputs(actual, expected, TOL)
    assert not report.passed
    assert failures[0].startswith("output 'scores': worst element [1, 1]: onnxruntime 0.9 vs original 0.4")


def test_labels_agreement_and_scores_on_agreeing_rows_only():
    expected = {"label": np.array(["a", "b", "a", "b"] * 5, dtype=object), "p": np.zeros((20, 2))}
    actual = {"label": expected["label"].copy(), "p": np.zeros((20, 2))}
    actual["label"][3] = "a"  # one flipped label near a boundary...
    actual["p"][3] = [0.6, 0.4]  # ...and its probabilities differ a lot
    report, failures = compare_outputs(actual, expected, TOL, label_output="label")
    assert report.passed, failures  # 19/20 agree >= 0.9; probabilities compared on agreeing rows
    assert report.checks[0].metric == "label_agreement" and report.checks[0].measured == pytest.approx(0.95)
    strict = Tolerances(min_label_agreement=1.0)
    report, failures = compare_outputs(actual, expected, strict, label_output="label")
    assert not report.passed and "first disagreement at [3]: onnxruntime 'a' vs original 'b'" in failures[0]


def test_nan_in_both_is_equal_but_nan_in_one_fails():
    expected = {"y": np.array([np.nan, 1.0])}
    assert compare_outputs({"y": np.array([np.nan, 1.0])}, expected, TOL)[0].passed
    report, failures = compare_outputs({"y": np.array([0.0, 1.0])}, expected, TOL)
    assert not report.passed and "worst element [0]" in failures[0]


def test_tolerances_validate_and_roundtrip():
    with pytest.raises(ValueError):
        Tolerances(min_label_agreement=1.5)
    report, _ = compare_outputs(
        {"label": np.array([1]), "p": np.array([[1.0]])},
        {"label": np.array([1]), "p": np.array([[1.0]])},
        TOL,
        label_output="label",
    )
    assert tolerances_from_report(report) == TOL
