"""``maaskit versions``: the worst check of the FINAL parity report, ranked the right way for each relation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bundle.manifest import Manifest, Optimization, ParityCheck, ParityReport
from infra.ops.registry import RegistryVersion, tolerance_used
from infra.ops.render import versions_json
from tests.bundle.conftest import make_manifest


def _check(metric: str, measured: float, tolerance: float, passed: bool = True) -> ParityCheck:
    return ParityCheck(output="y", metric=metric, measured=measured, tolerance=tolerance, passed=passed)  # type: ignore[arg-type]


def _row(manifest: Manifest) -> RegistryVersion:
    return RegistryVersion(manifest.name, manifest.version, 100, datetime(2026, 12, 7, tzinfo=UTC), manifest)


def _int8(conversion: list[ParityCheck], final: list[ParityCheck], *, final_passed: bool = True) -> Manifest:
    """An int8 bundle's record: the conversion's report and, under ``optimization``, the final one."""
    manifest = make_manifest(name="embed", version="2.0.0")
    return manifest.model_copy(
        update={
            "parity": ParityReport(sample_count=8, passed=True, checks=conversion),
            "optimization": Optimization(
                quantization="int8",
                size_before=400,
                size_after=100,
                parity=ParityReport(sample_count=8, passed=final_passed, checks=final),
            ),
        }
    )


def test_int8_bundle_shows_its_final_report_not_the_conversions():
    manifest = _int8(
        conversion=[_check("max_abs_diff", 2e-7, 1e-5)],
        final=[_check("max_abs_diff", 0.02, 0.05), _check("min_cosine", 0.9991, 0.99)],
    )
    assert _row(manifest).parity == "passed (max_abs_diff 0.02 <= 0.05)"
    [row] = versions_json([_row(manifest)])
    assert row["parity"]["checks"][0]["measured"] == 0.02
    assert row["conversion_parity"]["checks"][0]["measured"] == 2e-7


def test_a_failing_final_report_says_failed():
    manifest = _int8(
        conversion=[_check("max_abs_diff", 2e-7, 1e-5)],
        final=[_check("min_cosine", 0.95, 0.99, passed=False), _check("max_abs_diff", 0.01, 0.05)],
        final_passed=False,
    )
    assert _row(manifest).parity == "FAILED (min_cosine 0.95 >= 0.99)"


def test_lower_is_worse_for_greater_or_equal_metrics():
    """min_cosine 0.9999 against 0.99 uses 1% of its slack; max_abs_diff 8e-6 against 1e-5 uses 80%.

    The old rule (measured / tolerance) ranked the cosine worst (1.01 > 0.8)."""
    manifest = _int8(
        conversion=[],
        final=[_check("min_cosine", 0.9999, 0.99), _check("max_abs_diff", 8e-6, 1e-5)],
    )
    assert _row(manifest).parity == "passed (max_abs_diff 8e-06 <= 1e-05)"
    ranked = _int8(
        conversion=[],
        final=[_check("label_agreement", 1.0, 0.9), _check("ranking_agreement", 0.93, 0.9)],
    )
    assert _row(ranked).parity == "passed (ranking_agreement 0.93 >= 0.9)"


@pytest.mark.parametrize(
    ("check", "used"),
    [
        (_check("max_abs_diff", 5e-6, 1e-5), 0.5),
        (_check("min_cosine", 0.995, 0.99), 0.5),
        (_check("label_agreement", 1.0, 1.0), 0.0),
        (_check("label_agreement", 0.9, 1.0, passed=False), float("inf")),
        (_check("max_abs_diff", 0.0, 0.0), 0.0),
    ],
)
def test_tolerance_used(check: ParityCheck, used: float):
    assert tolerance_used(check) == pytest.approx(used)


def test_a_plain_bundle_still_reads_its_conversion_report():
    manifest = make_manifest(name="double", version="1.0.0").model_copy(
        update={"parity": ParityReport(sample_count=2, passed=True, checks=[_check("max_abs_diff", 0.0, 1e-5)])}
    )
    assert _row(manifest).parity == "passed (max_abs_diff 0 <= 1e-05)"
    assert "conversion_parity" not in versions_json([_row(manifest)])[0]
