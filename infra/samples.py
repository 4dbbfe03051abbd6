"""Turn a bundle's samples into the JSON test cases the pre-traffic hook runs against a new version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["MAX_HOOK_ROWS", "hook_cases"]

#: Rows sent by the hook: enough to catch a wrong model, small enough for one 6 MB request.
MAX_HOOK_ROWS = 16
_DEFAULT_ATOL = 1e-4
_DEFAULT_RTOL = 1e-3


def _label_requirement(tolerance: float) -> float:
    # Same reading as the runtime's warm-up: a minimum agreement (0.99) or an allowed disagreement (0.01).
    return tolerance if tolerance > 0.5 else 1.0 - tolerance


def hook_cases(directory: Path) -> dict[str, Any]:
    """``{"model", "version", "inputs", "outputs"}`` from the bundle at ``directory`` (see infra/hook)."""
    import numpy as np

    from bundle import open_bundle

    bundle = open_bundle(directory)
    manifest, samples = bundle.manifest, bundle.samples()
    checks: dict[str, dict[str, float]] = {}
    for check in manifest.parity.checks:
        checks.setdefault(check.output, {})[check.metric] = check.tolerance
    outputs: dict[str, Any] = {}
    for name, array in samples.outputs.items():
        values = np.asarray(array)[:MAX_HOOK_ROWS]
        own = checks.get(name, {})
        if values.dtype.kind in "OUSb" or "label_agreement" in own or values.dtype.kind in "iu":
            need = _label_requirement(own.get("label_agreement", 1.0))
            outputs[name] = {"kind": "label", "min_agreement": need, "values": values.astype(str).tolist()}
        else:
            atol = own.get("max_abs_diff", _DEFAULT_ATOL)
            rtol = own.get("max_rel_diff", _DEFAULT_RTOL)
            outputs[name] = {"kind": "numeric", "atol": atol, "rtol": rtol, "values": values.astype(float).tolist()}
    inputs = {name: np.asarray(array)[:MAX_HOOK_ROWS].tolist() for name, array in samples.inputs.items()}
    return {"model": manifest.name, "version": manifest.version, "inputs": inputs, "outputs": outputs}
