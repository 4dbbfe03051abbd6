"""Warm-up: run a model on its own samples and check the answers against the stored outputs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from handlers.bundle import BundleError, Manifest, Samples

__all__ = ["WarmupMismatchError", "check_outputs"]

#: Used for float outputs that the parity report does not cover.
DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-4


class WarmupMismatchError(BundleError):
    """The model's answers on its samples differ from the outputs stored in the bundle."""


def _label_requirement(tolerance: float) -> float:
    # label_agreement tolerances are stored either as the minimum agreement (0.99) or the allowed
    # disagreement (0.01); both read the same way here.
    return tolerance if tolerance > 0.5 else 1.0 - tolerance


def _compare(name: str, got: np.ndarray, want: np.ndarray, manifest: Manifest) -> str | None:
    if got.shape != want.shape:
        return f"output {name!r} has shape {list(got.shape)}, the samples say {list(want.shape)}"
    checks = {check.metric: check.tolerance for check in manifest.parity.checks if check.output == name}
    if got.dtype.kind in "OUS" or want.dtype.kind in "OUS":
        agree = float(np.mean(got.astype(str) == want.astype(str))) if got.size else 1.0
        need = _label_requirement(checks.get("label_agreement", 1.0))
        return None if agree >= need else f"output {name!r} agrees on {agree:.1%} of samples, needs {need:.1%}"
    if "label_agreement" in checks or (got.dtype.kind in "iub" and want.dtype.kind in "iub"):
        agree = float(np.mean(got == want)) if got.size else 1.0
        need = _label_requirement(checks.get("label_agreement", 1.0))
        return None if agree >= need else f"output {name!r} agrees on {agree:.1%} of samples, needs {need:.1%}"
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    diff = np.abs(got64 - want64)
    if "max_abs_diff" in checks:
        worst = float(diff.max(initial=0.0))
        limit = max(checks["max_abs_diff"], DEFAULT_ATOL * 0.01)
        return None if worst <= limit * 1.0001 else f"output {name!r} differs by {worst:.3g}, tolerance {limit:.3g}"
    if "max_rel_diff" in checks:
        worst = float((diff / np.maximum(np.abs(want64), 1e-12)).max(initial=0.0))
        limit = checks["max_rel_diff"]
        return (
            None
            if worst <= limit * 1.0001
            else f"output {name!r} differs by {worst:.3g} relative, tolerance {limit:.3g}"
        )
    if np.allclose(got64, want64, rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL, equal_nan=True):
        return None
    return f"output {name!r} differs by up to {float(diff.max(initial=0.0)):.3g} from the samples"


def check_outputs(
    manifest: Manifest, samples: Samples, run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
) -> None:
    """Run ``samples.inputs`` through ``run``; raise WarmupMismatchError when an output disagrees."""
    outputs = run(samples.inputs)
    problems = []
    for name, want in samples.outputs.items():
        got = outputs.get(name)
        if not isinstance(got, np.ndarray):
            continue  # not a tensor output (e.g. a sequence of maps): nothing comparable is stored
        problem = _compare(name, got, np.asarray(want), manifest)
        if problem:
            problems.append(problem)
    if problems:
        raise WarmupMismatchError(
            f"{manifest.name} {manifest.version}: the model does not reproduce its samples ("
            + "; ".join(problems)
            + "). The bundle or this runtime's onnxruntime/providers disagree with packaging; "
            "repackage or pin the runtime."
        )
