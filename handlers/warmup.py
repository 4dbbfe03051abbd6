"""Warm-up: the model must reproduce its bundle's samples before it takes traffic, then it is timed.

Decided by the bundle contract's one judge (:func:`bundle.judge.judge`) with the bundle's own
tolerances (those of the last transformation applied, with the accelerator slack when the session
runs on CUDA or TensorRT): the runtime accepts exactly what the packager's gate, ``maaskit verify``
and the pre-traffic hook accept. The samples go through the model's own processor (its tokenizer or
image preprocessing), once: the feed that was judged is the feed that is timed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bundle import BundleError, Manifest, Samples
from bundle.judge import Answer, RawSamples, judge, local_runner, raw_samples
from handlers.vocabulary import Feed, Inputs

if TYPE_CHECKING:
    from handlers.engine import ModelRuntime
    from handlers.settings import Settings

__all__ = [
    "TIMED_RUNS",
    "WarmupMismatchError",
    "check_and_time",
    "check_outputs",
    "check_text_outputs",
    "raise_on",
    "sample_feed",
]

#: Single-row runs timed after the check (the median is kept).
TIMED_RUNS = 5


class WarmupMismatchError(BundleError):
    """The model's answers on its samples differ from the outputs stored in the bundle."""


def _raw_inputs(raw: list[str] | list[bytes]) -> Inputs:
    """The processor's ``Inputs`` holding raw examples (texts or encoded images)."""
    return Inputs(raw=raw)


def _as_feed(array: np.ndarray) -> np.ndarray:
    return array.astype(object) if array.dtype.kind in "US" else array


def feed_of(runtime: ModelRuntime, raw: RawSamples) -> Feed:
    """Raw sample inputs as the model's feed: texts and images through its processor, tensors as stored."""
    if raw.kind == "texts":
        return runtime.processor.preprocess(_raw_inputs(raw.texts))
    if raw.kind == "images":
        return runtime.processor.preprocess(_raw_inputs(raw.images))
    return {name: _as_feed(array) for name, array in raw.tensors.items()}


def sample_feed(runtime: ModelRuntime, samples: Samples) -> Feed:
    """The bundle's samples as the model's feed (encoded once: the judge reuses it)."""
    return feed_of(runtime, raw_samples(runtime.manifest, samples))


def check_and_time(runtime: ModelRuntime, feed: Feed, samples: Samples, settings: Settings) -> float:
    """Judge the model on its samples (``feed``: :func:`sample_feed`), then time a single-row run (ms, median).

    Raises WarmupMismatchError naming every check that fails.
    """
    accelerator = runtime.session.get_providers()[0] != "CPUExecutionProvider"
    if not (settings.verify_samples and samples.outputs):
        runtime.run(feed)
    else:

        def run(raw: RawSamples) -> Answer:
            first = next(iter(feed.values()), np.zeros(0))
            rows = first.shape[0] if np.ndim(first) else 1
            used = feed if raw.count == rows else feed_of(runtime, raw)
            return Answer(runtime.run(used), used.get("attention_mask"))

        verdict = judge(runtime.manifest, runtime.bundle.root, samples, run, accelerator=accelerator)
        raise_on(runtime.manifest, verdict.problems)
    row = {name: array[:1] if array.ndim else array for name, array in feed.items()}
    timings = []
    for _ in range(TIMED_RUNS):
        start = time.perf_counter()
        runtime.run(row)
        timings.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(timings)


def raise_on(manifest: Manifest, problems: list[str]) -> None:
    """WarmupMismatchError naming ``problems`` (none: nothing raised)."""
    if problems:
        raise WarmupMismatchError(
            f"{manifest.name} {manifest.version}: the model does not reproduce its samples ("
            + "; ".join(problems)
            + "). The bundle or this runtime's onnxruntime/providers disagree with packaging; "
            "repackage or pin the runtime."
        )


def check_outputs(manifest: Manifest, samples: Samples, outputs: Feed, *, accelerator: bool) -> None:
    """Judge ``outputs`` (the model run on the stored sample feed); WarmupMismatchError naming what disagrees."""
    verdict = judge(manifest, None, samples, lambda _raw: outputs, accelerator=accelerator)
    raise_on(manifest, verdict.problems)


def check_text_outputs(
    manifest: Manifest, root: Path, samples: Samples, run: Callable[[Feed], Feed], *, accelerator: bool
) -> None:
    """Judge a text bundle whose model is ``run`` (feed -> outputs): its texts through its tokenizer."""
    verdict = judge(manifest, root, samples, local_runner(manifest, root, run), accelerator=accelerator)
    raise_on(manifest, verdict.problems)
