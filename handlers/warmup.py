"""Warm-up check: the model's answers on its own samples must match the outputs stored in the bundle.

Decided by the bundle contract's one rule (:func:`bundle.parity.reproduces`) with the bundle's own
tolerances (:func:`bundle.parity.tolerances_for`: those of the last transformation applied, with
the accelerator slack when the session runs on CUDA or TensorRT): the runtime accepts exactly
what the packager's gate and ``maaskit verify`` accept.
"""

from __future__ import annotations

import numpy as np

from bundle import TEXT_TASKS, BundleError, Manifest, Samples
from bundle.parity import final_parity, reproduces, tolerances_for
from bundle.parity_text import reproduces_text, text_tolerances_from_report

__all__ = ["WarmupMismatchError", "check_outputs"]


class WarmupMismatchError(BundleError):
    """The model's answers on its samples differ from the outputs stored in the bundle."""


def check_outputs(
    manifest: Manifest,
    samples: Samples,
    outputs: dict[str, np.ndarray],
    *,
    accelerator: bool,
    attention_mask: np.ndarray | None = None,
) -> None:
    """Compare ``outputs`` (the model run on ``samples.inputs``) with ``samples.outputs``.

    Text bundles (``attention_mask``: the encoder's mask of the sample texts) are judged by the bundle's
    text rule (:func:`bundle.parity_text.reproduces_text`: cosine and ranking for embeddings, real
    tokens only for token classifiers), as the packager's gate judged them.
    Raises WarmupMismatchError naming every output that disagrees.
    """
    # Outputs that are not tensors (e.g. a sequence of maps) have nothing comparable stored.
    expected = {
        name: value
        for name, value in samples.outputs.items()
        if name not in outputs or isinstance(outputs[name], np.ndarray)
    }
    tolerances = tolerances_for(manifest, accelerator=accelerator)
    if manifest.task in TEXT_TASKS and attention_mask is not None:
        _, problems = reproduces_text(
            manifest.task,
            outputs,
            expected,
            attention_mask=attention_mask,
            tolerances=tolerances,
            text_tolerances=text_tolerances_from_report(final_parity(manifest)),
        )
    else:
        _, problems = reproduces(outputs, expected, tolerances, manifest.label_output)
    if problems:
        raise WarmupMismatchError(
            f"{manifest.name} {manifest.version}: the model does not reproduce its samples ("
            + "; ".join(problems)
            + "). The bundle or this runtime's onnxruntime/providers disagree with packaging; "
            "repackage or pin the runtime."
        )
