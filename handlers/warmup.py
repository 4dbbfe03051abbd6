"""Warm-up check: the model's answers on its own samples must match the outputs stored in the bundle.

Decided by the bundle contract's one rule (:func:`bundle.parity.reproduces`) with the bundle's own
tolerances (:func:`bundle.parity.tolerances_for`: those of the last transformation applied, with
the accelerator slack when the session runs on CUDA or TensorRT): the runtime accepts exactly
what the packager's gate and ``maaskit verify`` accept.
"""

from __future__ import annotations

import numpy as np

from bundle import BundleError, Manifest, Samples
from bundle.parity import reproduces, tolerances_for

__all__ = ["WarmupMismatchError", "check_outputs"]


class WarmupMismatchError(BundleError):
    """The model's answers on its samples differ from the outputs stored in the bundle."""


def check_outputs(manifest: Manifest, samples: Samples, outputs: dict[str, np.ndarray], *, accelerator: bool) -> None:
    """Compare ``outputs`` (the model run on ``samples.inputs``) with ``samples.outputs``.

    Raises WarmupMismatchError naming every output that disagrees.
    """
    # Outputs that are not tensors (e.g. a sequence of maps) have nothing comparable stored.
    expected = {
        name: value
        for name, value in samples.outputs.items()
        if name not in outputs or isinstance(outputs[name], np.ndarray)
    }
    tolerances = tolerances_for(manifest, accelerator=accelerator)
    _, problems = reproduces(outputs, expected, tolerances, manifest.label_output)
    if problems:
        raise WarmupMismatchError(
            f"{manifest.name} {manifest.version}: the model does not reproduce its samples ("
            + "; ".join(problems)
            + "). The bundle or this runtime's onnxruntime/providers disagree with packaging; "
            "repackage or pin the runtime."
        )
