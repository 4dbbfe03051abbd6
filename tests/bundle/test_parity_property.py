"""Build, verify, run and deploy decide alike: one property over outputs at every scale.

Each example is a real bundle whose model (an ONNX Identity graph) answers with generated
``actual`` outputs while ``samples.npz`` holds the ``expected`` ones: float outputs at scales
from 1e-6 to 1e9 (negative too), string or integer class labels (integer indices with string
label names as well), an extra integer output, perturbations inside or outside the tolerances,
flipped labels, and tolerances recorded either in the conversion report or in the report of a
later optimization (the one that counts). Every phase then judges the same bundle:

* the build gate: ``model_packager.parity.check_parity`` on the model's onnxruntime outputs;
* ``maaskit verify``: ``model_packager.verify.verify_bundle``;
* the runtime's warm-up: ``handlers.engine.load_runtime`` (as ``maaskit serve`` loads bundles);
* the deploy-time sample check and the pre-traffic hook: ``infra.samples.stage_hook_asset``, then
  the hook judging the JSON answer the runtime's app gives to the hook's own requests.

All must agree with each other and with the verdict the generator intended.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from bundle import Manifest, Optimization, ParityCheck, ParityReport
from bundle.parity import DEFAULT_TOLERANCES, INT8_TOLERANCES, Tolerances, tolerances_for
from bundle.writer import write_bundle
from handlers.engine import ModelRepository, load_runtime
from handlers.settings import Settings
from handlers.warmup import WarmupMismatchError
from model_packager.parity import ParityError, check_parity
from model_packager.verify import verify_bundle
from tests.bundle.serving import hook_verdict

TOLERANCES = [DEFAULT_TOLERANCES, INT8_TOLERANCES, Tolerances(1e-6, 1e-6, 1.0), Tolerances(0.0, 1e-2, 0.5)]
TIGHT = Tolerances(1e-9, 1e-9, 1.0)  # a conversion report that must NOT be used when an optimization followed
NAMES = ["setosa", "versicolor", "virginica"]
_ONNX_TYPES = {"float32": TensorProto.FLOAT, "int64": TensorProto.INT64, "string": TensorProto.STRING}


@dataclass(frozen=True)
class Case:
    """One generated bundle: what the model answers, what the samples say, the verdict intended."""

    actual: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]
    dtypes: dict[str, str]
    tolerances: Tolerances
    optimized: bool
    labels: list[str] | list[int] | None
    passes: bool


def _tolerance(tol: Tolerances, expected: np.ndarray) -> np.ndarray:
    return np.maximum(tol.atol, tol.rtol * np.abs(expected))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows, cols = draw(st.integers(1, 6)), draw(st.integers(1, 3))
    tol = draw(st.sampled_from(TOLERANCES))
    exponent = draw(st.integers(-6, 9))
    sign = draw(st.sampled_from(["positive", "negative", "mixed"]))
    values = rng.uniform(0.1, 1.0, (rows, cols)) * 10.0**exponent
    if sign != "positive":
        values *= -1 if sign == "negative" else rng.choice([-1, 1], (rows, cols))
    expected_scores = values.astype(draw(st.sampled_from([np.float64, np.float32])))
    perturbation = draw(st.sampled_from(["exact", "inside", "outside"]))
    shift = rng.uniform(-0.5, 0.5, (rows, cols)) * _tolerance(tol, expected_scores)
    actual_scores = expected_scores + (shift if perturbation != "exact" else 0)
    label_kind = draw(st.sampled_from(["string", "int", "int-named"]))
    classes = rng.integers(0, 3, rows)
    expected_labels = np.asarray(NAMES)[classes] if label_kind == "string" else classes.astype(np.int64)
    flips = min(rows, draw(st.sampled_from([0, 0, 0, 1, 2])))
    flipped = rng.permutation(rows)[:flips]
    actual_labels = expected_labels.copy()
    actual_labels[flipped] = (
        np.asarray(NAMES)[(classes[flipped] + 1) % 3] if label_kind == "string" else (classes[flipped] + 1) % 3
    )
    agreeing = np.setdiff1d(np.arange(rows), flipped)
    outside = perturbation == "outside" and agreeing.size > 0
    if outside:
        row, col = int(rng.choice(agreeing)), int(rng.integers(cols))
        step = 2.0 + rng.uniform(0, 8)
        actual_scores[row, col] = expected_scores[row, col] + rng.choice([-1, 1]) * step * _tolerance(
            tol, expected_scores[row, col]
        )
    actual_scores[flipped] += rng.normal(0, 10.0**exponent, (flips, cols))  # flipped rows are not compared
    counts = rng.integers(-50, 50, (rows, 2)).astype(np.int64)
    changed = draw(st.sampled_from([0, 0, 0, 1]))
    actual_counts = counts.copy().reshape(-1)
    actual_counts[rng.permutation(2 * rows)[:changed]] += 1
    label_agreement = (rows - flips) / rows
    count_agreement = (2 * rows - changed) / (2 * rows)
    passes = not outside and label_agreement >= tol.min_label_agreement and count_agreement >= tol.min_label_agreement
    return Case(
        actual={
            "label": actual_labels,
            "scores": actual_scores.astype(np.float32),
            "counts": actual_counts.reshape(rows, 2),
        },
        expected={"label": expected_labels, "scores": expected_scores, "counts": counts},
        dtypes={"label": "string" if label_kind == "string" else "int64", "scores": "float32", "counts": "int64"},
        tolerances=tol,
        optimized=draw(st.booleans()),
        labels=list(NAMES) if label_kind != "int" else [0, 1, 2],
        passes=passes,
    )


def _identity_model(dtypes: dict[str, str], shapes: dict[str, list[int | None]]) -> onnx.ModelProto:
    """``<name> = Identity(in_<name>)`` for every output: the model answers what its sample inputs hold."""
    inputs = [helper.make_tensor_value_info(f"in_{n}", _ONNX_TYPES[d], shapes[n]) for n, d in dtypes.items()]
    outputs = [helper.make_tensor_value_info(n, _ONNX_TYPES[d], shapes[n]) for n, d in dtypes.items()]
    nodes = [helper.make_node("Identity", [f"in_{name}"], [name]) for name in dtypes]
    graph = helper.make_graph(nodes, "identity", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _report(tol: Tolerances) -> ParityReport:
    checks = [
        ParityCheck(
            output="label", metric="label_agreement", tolerance=tol.min_label_agreement, measured=1.0, passed=True
        ),
        ParityCheck(output="scores", metric="max_abs_diff", tolerance=tol.atol, measured=0.0, passed=True),
        ParityCheck(output="scores", metric="max_rel_diff", tolerance=tol.rtol, measured=0.0, passed=True),
    ]
    return ParityReport(sample_count=1, passed=True, checks=checks)


def _write(case: Case, out: Path) -> tuple[Path, bytes, dict[str, np.ndarray]]:
    shapes: dict[str, list[int | None]] = {
        "label": [None],
        "scores": [None, case.actual["scores"].shape[1]],
        "counts": [None, 2],
    }
    model = _identity_model(case.dtypes, shapes).SerializeToString()
    specs = [{"name": n, "dtype": d, "shape": shapes[n]} for n, d in case.dtypes.items()]
    optimization = Optimization(graph_level="basic", size_before=1, size_after=1, parity=_report(case.tolerances))
    manifest = Manifest.model_validate(
        {
            "name": "prop",
            "version": "1.0.0",
            "created": "2026-01-01T00:00:00Z",
            "framework": {"name": "onnx", "version": onnx.__version__},
            "converter": {"name": "onnx", "version": onnx.__version__},
            "opsets": {"": 17},
            "inputs": [{**spec, "name": f"in_{spec['name']}"} for spec in specs],
            "outputs": specs,
            "task": "classifier",
            "labels": case.labels,
            "label_output": "label",
            "parity": _report(TIGHT if case.optimized else case.tolerances),
            "optimization": optimization if case.optimized else None,
            "files": {"model.onnx": {"sha256": "0" * 64, "size": 0}},
            "provenance": {"maaskit_version": "0", "python_version": "3.11"},
        }
    )
    feed = {f"in_{name}": value for name, value in case.actual.items()}
    return write_bundle(out, manifest, model, feed, case.expected, force=True).directory, model, feed


def _decisions(case: Case, out: Path) -> dict[str, bool]:
    directory, model, feed = _write(case, out)
    manifest = Manifest.model_validate_json((directory / "manifest.json").read_bytes())
    try:
        check_parity(model, feed=feed, expected=case.expected, tolerances=tolerances_for(manifest),
                     label_output="label", stage="test")  # fmt: skip
        gate = True
    except ParityError:
        gate = False
    try:
        load_runtime(directory, Settings.load(environ={}, access_log=False, intra_op_threads=1))
        warm_up = True
    except WarmupMismatchError:
        warm_up = False
    shutil.rmtree(out / "hook", ignore_errors=True)
    # The hook judges what the runtime answers, so the served model is loaded without its own check.
    unchecked = Settings.load(environ={}, verify_samples=False, access_log=False, intra_op_threads=1)
    repository = ModelRepository([load_runtime(directory, unchecked)])
    hook = hook_verdict(directory, repository, unchecked, out / "hook")
    return {
        "gate": gate,
        "verify": verify_bundle(directory).passed,
        "warm-up": warm_up,
        "hook": hook == [],
    }


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("property")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_every_phase_decides_as_the_one_rule_intends(case: Case, workdir: Path) -> None:
    event("reproduces" if case.passes else "refused")
    decisions = _decisions(case, workdir)
    assert set(decisions.values()) == {case.passes}, decisions
