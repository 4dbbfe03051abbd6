"""Warm-up check: the model's answers on its own samples must match the outputs stored in the bundle.

Decided by the bundle contract's one rule (:func:`bundle.parity.reproduces`) with the bundle's own
tolerances (:func:`bundle.parity.tolerances_for`: those of the last transformation applied, with
the accelerator slack when the session runs on CUDA or TensorRT): the runtime accepts exactly
what the packager's gate and ``maaskit verify`` accept.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from bundle import BundleError, Manifest, Samples
from bundle.parity import reproduces, tolerances_for
from bundle.parity_text import reproduces_samples

Feed = dict[str, np.ndarray]

__all__ = ["WarmupMismatchError", "check_outputs", "check_text_outputs"]


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
    _raise_on(manifest, problems)


def check_text_outputs(
    manifest: Manifest, root: Path, samples: Samples, run: Callable[[Feed], Feed], *, accelerator: bool
) -> None:
    """A text bundle: its stored texts re-encoded by its tokenizer, ``run``, and judged by the bundle's text rule.

    (:func:`bundle.parity_text.reproduces_samples`: cosine and ranking for embeddings, real tokens only for
    token classifiers, with the manifest's tolerances.) Raises WarmupMismatchError naming what disagrees.
    """
    _, problems = reproduces_samples(manifest, root, samples, run, accelerator=accelerator)
    _raise_on(manifest, problems)


def _raise_on(manifest: Manifest, problems: list[str]) -> None:
    if problems:
        raise WarmupMismatchError(
            f"{manifest.name} {manifest.version}: the model does not reproduce its samples ("
            + "; ".join(problems)
            + "). The bundle or this runtime's onnxruntime/providers disagree with packaging; "
            "repackage or pin the runtime."
        )
