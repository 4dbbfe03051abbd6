"""Warm-up check: the model's answers on its own samples must match the outputs stored in the bundle.

Tolerances come from the bundle's parity report (the same metric and tolerance the packager
enforced), with defaults for outputs the report does not cover. On an accelerator (CUDA, TensorRT)
float outputs get at least :data:`ACCELERATOR_ATOL`: kernels there legitimately differ from the CPU
ones the packager measured with.
"""

from __future__ import annotations

import numpy as np

from bundle import BundleError, Manifest, Samples

__all__ = ["ACCELERATOR_ATOL", "DEFAULT_ATOL", "DEFAULT_RTOL", "WarmupMismatchError", "check_outputs"]

#: Used for float outputs that the parity report does not cover.
DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-4
#: Smallest absolute tolerance for float outputs when the session runs on an accelerator.
ACCELERATOR_ATOL = 1e-3


class WarmupMismatchError(BundleError):
    """The model's answers on its samples differ from the outputs stored in the bundle."""


def _label_requirement(tolerance: float) -> float:
    # label_agreement tolerances are stored either as the minimum agreement (0.99) or the allowed
    # disagreement (0.01); both read the same way here.
    return tolerance if tolerance > 0.5 else 1.0 - tolerance


def _agreement(name: str, same: np.ndarray, tolerance: float) -> str | None:
    agree = float(np.mean(same)) if same.size else 1.0
    need = _label_requirement(tolerance)
    return None if agree >= need else f"output {name!r} agrees on {agree:.1%} of samples, needs {need:.1%}"


def _compare(name: str, got: np.ndarray, want: np.ndarray, checks: dict[str, float], min_atol: float) -> str | None:
    if got.shape != want.shape and got.size == want.size == 1:
        got, want = got.reshape(1), want.reshape(1)  # samples.npz stores a 0-d output as shape [1]
    if got.shape != want.shape:
        return f"output {name!r} has shape {list(got.shape)}, the samples say {list(want.shape)}"
    if got.dtype.kind in "OUS" or want.dtype.kind in "OUS":
        return _agreement(name, got.astype(str) == want.astype(str), checks.get("label_agreement", 1.0))
    if "label_agreement" in checks or (got.dtype.kind in "iub" and want.dtype.kind in "iub"):
        return _agreement(name, got == want, checks.get("label_agreement", 1.0))
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    diff = np.abs(got64 - want64)
    worst = float(diff.max(initial=0.0))
    if "max_abs_diff" in checks:
        limit = max(checks["max_abs_diff"], min_atol)
        return None if worst <= limit * 1.0001 else f"output {name!r} differs by {worst:.3g}, tolerance {limit:.3g}"
    if "max_rel_diff" in checks:
        relative = float((diff / np.maximum(np.abs(want64), 1e-12)).max(initial=0.0))
        if relative <= checks["max_rel_diff"] * 1.0001 or worst <= min_atol:
            return None
        return f"output {name!r} differs by {relative:.3g} relative, tolerance {checks['max_rel_diff']:.3g}"
    atol = max(DEFAULT_ATOL, min_atol)
    if np.allclose(got64, want64, rtol=DEFAULT_RTOL, atol=atol, equal_nan=True):
        return None
    return f"output {name!r} differs by up to {worst:.3g} from the samples"


def check_outputs(manifest: Manifest, samples: Samples, outputs: dict[str, np.ndarray], *, accelerator: bool) -> None:
    """Compare ``outputs`` (the model run on ``samples.inputs``) with ``samples.outputs``.

    Raises WarmupMismatchError naming every output that disagrees.
    """
    min_atol = ACCELERATOR_ATOL if accelerator else 1e-6
    problems = []
    for name, want in samples.outputs.items():
        got = outputs.get(name)
        if not isinstance(got, np.ndarray):
            continue  # not a tensor output (e.g. a sequence of maps): nothing comparable is stored
        checks: dict[str, float] = {c.metric: c.tolerance for c in manifest.parity.checks if c.output == name}
        problem = _compare(name, got, np.asarray(want), checks, min_atol)
        if problem:
            problems.append(problem)
    if problems:
        raise WarmupMismatchError(
            f"{manifest.name} {manifest.version}: the model does not reproduce its samples ("
            + "; ".join(problems)
            + "). The bundle or this runtime's onnxruntime/providers disagree with packaging; "
            "repackage or pin the runtime."
        )
