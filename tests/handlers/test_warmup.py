"""Warm-up tolerances: from the parity report, defaults otherwise, looser floats on accelerators."""

from __future__ import annotations

import numpy as np
import pytest

from bundle import ParityCheck, ParityReport, Samples, open_bundle
from handlers.warmup import WarmupMismatchError, check_outputs


@pytest.fixture(scope="module")
def iris(bundles):
    bundle = open_bundle(bundles.iris)
    return bundle.manifest, bundle.samples()


def _shifted(samples: Samples, by: float) -> dict[str, np.ndarray]:
    return {"label": samples.outputs["label"].astype(object), "probabilities": samples.outputs["probabilities"] + by}


def test_within_the_parity_tolerance_passes(iris):
    manifest, samples = iris
    check_outputs(manifest, samples, _shifted(samples, 5e-5), accelerator=False)  # report allows 1e-4


def test_over_the_parity_tolerance_is_refused_naming_the_output(iris):
    manifest, samples = iris
    with pytest.raises(WarmupMismatchError, match="output 'probabilities' differs by 0.0005, tolerance 0.0001"):
        check_outputs(manifest, samples, _shifted(samples, 5e-4), accelerator=False)


def test_accelerators_get_a_floor_on_float_tolerance(iris):
    manifest, samples = iris
    check_outputs(manifest, samples, _shifted(samples, 5e-4), accelerator=True)
    with pytest.raises(WarmupMismatchError):
        check_outputs(manifest, samples, _shifted(samples, 5e-3), accelerator=True)


def test_label_agreement_threshold(iris):
    manifest, samples = iris
    labels = samples.outputs["label"].astype(object).copy()
    labels[0] = "virginica"  # one of eight flipped
    outputs = {"label": labels, "probabilities": samples.outputs["probabilities"]}
    with pytest.raises(WarmupMismatchError, match="agrees on 87.5% of samples, needs 100.0%"):
        check_outputs(manifest, samples, outputs, accelerator=False)
    lenient = manifest.model_copy(
        update={
            "parity": ParityReport(
                sample_count=8,
                passed=True,
                checks=[
                    ParityCheck(output="label", metric="label_agreement", tolerance=0.85, measured=0.9, passed=True)
                ],
            )
        }
    )
    check_outputs(lenient, samples, outputs, accelerator=False)


def test_scalar_outputs_match_their_stored_one_element_form(iris):
    manifest, samples = iris
    stored = Samples(samples.inputs, {"total": np.asarray([3.0])})  # samples.npz keeps a 0-d output as [1]
    check_outputs(manifest, stored, {"total": np.asarray(3.0)}, accelerator=False)
    with pytest.raises(WarmupMismatchError):
        check_outputs(manifest, stored, {"total": np.asarray(4.0)}, accelerator=False)
