"""Per-model processing around the run: what a protocol decoded becomes a feed, outputs become answers.

A protocol decodes a request into :class:`Inputs`: named tensors (nested lists or arrays, the
tabular case) and/or raw examples (texts, encoded images) for a model that prepares its own
tensors. The model's :class:`Processor` turns them into the onnxruntime feed (``preprocess``:
tokenize, decode images, or, for tabular models, just check and coerce against the manifest) and
may reshape the outputs afterwards (``postprocess``: pooling, normalisation; identity for tabular
models). The generic inference endpoint (:mod:`handlers.protocols.base`) calls both; protocols
never do.

Adding a model family is one processor class and one entry in :data:`PROCESSORS` (keyed by the
manifest's ``task``); :func:`processor_for` picks it when a bundle is loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from bundle import IMAGE_TASKS, TEXT_TASKS, Bundle, Manifest
from handlers.errors import InvalidInputError
from handlers.validation import coerce_feed

__all__ = ["Feed", "Inputs", "Outputs", "PROCESSORS", "Processor", "TensorProcessor", "processor_for"]

Feed = dict[str, np.ndarray]
"""Named input arrays, exactly as onnxruntime takes them."""
Outputs = dict[str, np.ndarray]
"""Named output arrays, as onnxruntime (and postprocessing) gives them."""


@dataclass(frozen=True)
class Inputs:
    """What a protocol decoded from one request, before the model's preprocessing.

    ``tensors``: values by model input name (nested lists or arrays); ``raw``: raw examples (``str``
    texts, ``bytes`` of encoded images or audio), one per example, for a processor that builds its
    own tensors. A request carries one or the other.
    """

    tensors: Mapping[str, Any] = field(default_factory=dict)
    raw: Sequence[str | bytes] | None = None


class Processor(Protocol):
    """Turns decoded inputs into a feed and raw outputs into the outputs that protocols encode."""

    def preprocess(self, inputs: Inputs) -> Feed:
        """The onnxruntime feed for ``inputs``; InvalidInputError (400) naming what to fix."""
        ...

    def postprocess(self, feed: Feed, outputs: Outputs) -> Outputs:
        """The outputs answered for ``feed`` (e.g. pooled with its attention mask)."""
        ...


class TensorProcessor:
    """Tabular and plain-tensor models: check and coerce the tensors against the manifest; outputs as they are."""

    def __init__(self, manifest: Manifest, *, allow_nonfinite: bool = False) -> None:
        self.manifest = manifest
        self.allow_nonfinite = allow_nonfinite

    def preprocess(self, inputs: Inputs) -> Feed:
        """The coerced feed (names, dtypes, ranks, shapes and finiteness checked)."""
        if inputs.raw is not None:
            names = ", ".join(spec.name for spec in self.manifest.inputs)
            raise InvalidInputError(
                f"model {self.manifest.name} takes tensors ({names}), not raw text or bytes: send its inputs by name"
            )
        return coerce_feed(self.manifest, inputs.tensors, allow_nonfinite=self.allow_nonfinite)

    def postprocess(self, feed: Feed, outputs: Outputs) -> Outputs:
        """The outputs unchanged."""
        return outputs


ProcessorFactory = Callable[[Bundle], Processor]

#: Processor factories by manifest ``task``; any other task gets a :class:`TensorProcessor`.
PROCESSORS: dict[str, ProcessorFactory] = {}


def _text_processor(bundle: Bundle) -> Processor:
    from handlers.text.processor import TextProcessor  # imports the tokenizer path only for text bundles

    return TextProcessor(bundle)


PROCESSORS.update({task: _text_processor for task in sorted(TEXT_TASKS)})


def _image_processor(bundle: Bundle) -> Processor:
    from handlers.image.processor import ImageProcessor  # imports Pillow only for image bundles

    return ImageProcessor(bundle)


PROCESSORS.update({task: _image_processor for task in sorted(IMAGE_TASKS)})


def _allow_nonfinite(manifest: Manifest) -> bool:
    return str(manifest.metadata.get("allow_nonfinite", "")).lower() == "true"


def processor_for(bundle: Bundle) -> Processor:
    """The processor for a loaded bundle: the one registered for its task, else plain tensors."""
    factory = PROCESSORS.get(bundle.manifest.task or "")
    if factory is not None:
        return factory(bundle)
    return TensorProcessor(bundle.manifest, allow_nonfinite=_allow_nonfinite(bundle.manifest))
