"""Warm-up decides with the bundle's one parity rule: its tolerances, accelerator slack, label agreement."""

from __future__ import annotations

import numpy as np
import pytest

from bundle import ParityCheck, ParityReport, Samples, open_bundle
from bundle.parity import tolerances_for
from handlers.warmup import WarmupMismatchError, check_outputs


@pytest.fixture(scope="module")
def iris(bundles):
    bundle = open_bundle(bundles.iris)
    return bundle.manifest, bundle.samples()


def _shifted(samples: Samples, by: float) -> dict[str, np.ndarray]:
    return {"label": samples.outputs["label"].astype(object), "probabilities": samples.outputs["probabilities"] + by}


def test_within_the_parity_tolerance_passes(iris):
    manifest, samples = iris
    assert tolerances_for(manifest).atol == 1e-4  # the packager's default, recorded in the manifest
    check_outputs(manifest, samples, _shifted(samples, 5e-5), accelerator=False)


def test_over_the_parity_tolerance_is_refused_naming_the_worst_element(iris):
    manifest, samples = iris
    with pytest.raises(
        WarmupMismatchError, match=r"output 'probabilities': worst element \[\d, \d\]: onnxruntime 0\.05"
    ):
        check_outputs(manifest, samples, _shifted(samples, 0.05), accelerator=False)


def test_accelerators_get_a_floor_on_float_tolerance(iris):
    manifest, samples = iris
    check_outputs(manifest, samples, _shifted(samples, 5e-4), accelerator=True)
    with pytest.raises(WarmupMismatchError):
        check_outputs(manifest, samples, _shifted(samples, 5e-4), accelerator=False)
    with pytest.raises(WarmupMismatchError):
        check_outputs(manifest, samples, _shifted(samples, 5e-2), accelerator=True)


def test_label_agreement_threshold(iris):
    manifest, samples = iris
    labels = samples.outputs["label"].astype(object).copy()
    labels[0] = "virginica" if labels[0] != "virginica" else "setosa"
    outputs = {"label": labels, "probabilities": samples.outputs["probabilities"]}
    with pytest.raises(WarmupMismatchError, match=r"output 'label': label agreement 0\.\d+ < 0\.99"):
        check_outputs(manifest, samples, outputs, accelerator=False)
    checks = [ParityCheck(output="label", metric="label_agreement", tolerance=0.8, measured=0.9, passed=True)]
    lenient = manifest.model_copy(update={"parity": ParityReport(sample_count=8, passed=True, checks=checks)})
    check_outputs(lenient, samples, outputs, accelerator=False)


def test_scalar_outputs_match_their_stored_one_element_form(iris):
    manifest, samples = iris
    stored = Samples(samples.inputs, {"total": np.asarray([3.0])})  # samples.npz keeps a 0-d output as [1]
    check_outputs(manifest, stored, {"total": np.asarray(3.0)}, accelerator=False)
    with pytest.raises(WarmupMismatchError):
        check_outputs(manifest, stored, {"total": np.asarray(4.0)}, accelerator=False)


def test_outputs_that_are_not_tensors_are_not_judged(iris):
    manifest, samples = iris
    outputs = dict(_shifted(samples, 0.0), probabilities=[{"a": 1.0}])
    check_outputs(manifest, samples, outputs, accelerator=False)  # type: ignore[arg-type]


def test_warm_up_judges_the_feed_it_times_running_the_samples_once(bundles, settings):
    """The engine's warm-up: one run over every sample (judged by bundle.judge), then the timed single rows."""
    from handlers.engine import load_runtime

    runtime = load_runtime(bundles.iris, settings, warm=False)
    rows: list[int] = []
    run = runtime.run

    def counted(feed, options=None):  # type: ignore[no-untyped-def]
        rows.append(len(next(iter(feed.values()))))
        return run(feed, options)

    runtime.run = counted  # type: ignore[method-assign]
    runtime.warm_up(settings)
    samples = runtime.bundle.samples()
    assert runtime.ready and rows == [samples.count] + [1] * 5
    assert runtime.single_row_ms is not None and runtime.single_row_ms > 0


def test_warm_up_refuses_a_model_that_does_not_reproduce_its_samples(bundles, settings, tmp_path):
    from handlers.engine import load_runtime
    from tests.bundle.serving import swapped_weights

    swapped = swapped_weights(bundles.iris, tmp_path)
    with pytest.raises(WarmupMismatchError, match="does not reproduce its samples"):
        load_runtime(swapped, settings)
