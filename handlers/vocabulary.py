"""The words the runtime's parts share: feed, outputs, runner, inputs, answers, processor.

A leaf module (numpy and the standard library only), so the engine, the processors, the codecs and
the batcher can all import it without importing each other. The seam it describes is documented in
:mod:`handlers.processing`: a codec decodes its wire into family-neutral :class:`Inputs`; the model's
:class:`Processor` turns them into a :data:`Feed`, and the :data:`Outputs` into :class:`Answers`; the
codec writes those in its wire's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

__all__ = [
    "ANY_FILE",
    "BODY_KINDS",
    "MAX_EXAMPLES",
    "Answers",
    "BodyKind",
    "Embedder",
    "ExampleFeed",
    "Feed",
    "Inputs",
    "Outputs",
    "Processor",
    "Runner",
    "Style",
]

Feed = dict[str, np.ndarray]
"""Named input arrays, exactly as onnxruntime takes them."""
Outputs = dict[str, np.ndarray]
"""Named output arrays, as onnxruntime (and postprocessing) gives them."""
Runner = Callable[[Feed], Outputs]
"""A synchronous way to run a model: feed in, outputs out (``ModelRuntime.run``, a judge's runner)."""

#: Most examples in one request: a batch is padded to its longest example, so a huge batch is a memory risk.
MAX_EXAMPLES = 2048

BodyKind = Literal["text", "image", "audio", "csv", "npy"]
"""A request body that is not JSON: ``text/plain``, an encoded image or audio file, CSV rows, one ``.npy`` array.

``image`` and ``audio`` bodies also match any ``image/*`` / ``audio/*`` type and reach the processor as the
file's bytes, and so does :data:`ANY_FILE` (the kind of file the model takes); a family that takes another
kind of file adds its kind here, not in a codec."""
#: Content types that say only "a file": the body is of the (first) file kind the model's processor takes.
ANY_FILE = ("application/octet-stream", "binary/octet-stream")
#: Content types of each body kind (those of the kind's own major type are named in errors).
BODY_KINDS: dict[str, tuple[str, ...]] = {
    "text": ("text/plain",),
    "image": ("image/jpeg", "image/png", "image/webp", "application/x-image"),
    # video/* containers of a recording (a browser's MediaRecorder, a phone's .mp4) carry audio for speech models
    "audio": (
        "audio/wav",
        "audio/flac",
        "audio/mpeg",
        "audio/ogg",
        "audio/webm",
        "audio/mp4",
        "audio/x-wav",
        "video/webm",
        "video/mp4",
    ),
    "csv": ("text/csv",),
    "npy": ("application/x-npy", "application/npy"),
}

Style = Literal["tensors", "predictions", "pipeline", "handler"]
"""The answer conventions a processor writes its per-example answers in:

``tensors``      no per-example answers: the named outputs (Open Inference Protocol); ``extra`` outputs may add some
``predictions``  one plain answer per example: a vector, best-first ``[{"label", "score"}]``, entities
                 (maaskit JSON, TF Serving); ``top_k`` defaults to 1
``pipeline``     the Hugging Face pipelines' answer for the task (SageMaker's Hugging Face inference toolkit)
``handler``      TorchServe's default handlers' answer for the task (``{label: score}`` for classifiers)
"""


@dataclass(frozen=True)
class Inputs:
    """What a codec decoded from one request, in no family's terms.

    A request fills one of ``named``, ``raw``, ``rows`` or ``tokens``. Strings stay ``str``; bytes (OIP
    ``BYTES`` in binary, ``{"b64": ...}`` objects, a file body) stay ``bytes``: the processor, which knows
    its family and its input names, decides what they are (texts, encoded images, string tensors).
    """

    named: Mapping[str, Any] = field(default_factory=dict)
    """Values by name, one batch each: a model input's tensor (nested lists or an array) or a name the
    family gives its raw examples (``"text"``, ``"image"``)."""
    raw: Any = None
    """One unnamed value: raw examples (a list of texts or encoded files, or one alone), or the batch
    of a model's only input."""
    rows: Any = None
    """One entry per example: a row of values, a record ``{name: value}``, a text or an encoded file."""
    tokens: Any = None
    """Token id sequences, one per example (lists of ints, or an integer array): complete model inputs."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Request parameters a family may read (``top_k``), as the wire gave them."""
    may_omit_batch: bool = False
    """The wire lets one example come without its batch axis (TorchServe): a processor adds it."""
    where: str = "the request"
    """How errors name the place the examples came from (``'"inputs"'``, ``"the body"``)."""

    def at(self, name: str | None = None) -> str:
        """Where ``name`` (or the unnamed value) came from, for error messages."""
        if name is None:
            return self.where
        if self.where.startswith('"') and self.where.endswith('"'):
            return f'"{self.where[1:-1]}.{name}"'
        return f"{self.where} {name!r}"


class ExampleFeed(dict[str, np.ndarray]):
    """A feed that remembers what the request's examples were (the processor reads it back when answering)."""

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        *,
        raw: bool = False,
        single: bool = False,
        audio_seconds: float | None = None,
    ) -> None:
        super().__init__(arrays)
        self.raw = raw
        """The feed was made from raw examples (texts, images), not from tensors by name."""
        self.single = single
        """One example came without a list around it: answers are unwrapped."""
        self.audio_seconds = audio_seconds
        """Seconds of audio the request's files hold (speech feeds; metered by :mod:`handlers.metering`)."""


@dataclass(frozen=True)
class Answers:
    """A processor's answers for one request, in no wire's shape."""

    outputs: Outputs
    """Named output arrays, class indices mapped to their labels."""
    predictions: Any = None
    """The per-example answers in the asked :data:`Style` (None: the family answers with ``outputs``)."""
    labels: list[Any] | None = None
    """The predicted class of each example (classifiers)."""
    primary: str | None = None
    """The output that a one-array answer (CSV, ``.npy``) carries."""
    task: str | None = None
    """The model's task, as its manifest says."""
    extra: Outputs = field(default_factory=dict)
    """More named outputs for tensor protocols (e.g. ``entities``: one JSON document per text)."""


class Embedder(Protocol):
    """What an embedding model answers to OpenAI-style embedding requests."""

    def check(self, dimensions: int | None) -> None:
        """InvalidInputError (before inference) when ``dimensions`` cannot be answered."""
        ...

    def vectors(self, feed: Feed, outputs: Outputs, dimensions: int | None) -> np.ndarray:
        """The [examples, dimensions] float32 embeddings (truncated and re-normalised on request)."""
        ...

    def token_count(self, feed: Feed) -> int:
        """Tokens the model read for ``feed`` (special tokens included)."""
        ...


class Processor(Protocol):
    """A model family: decoded inputs -> feed, outputs -> answers (see :mod:`handlers.processing`)."""

    @property
    def bodies(self) -> frozenset[str]:
        """The :data:`BodyKind` bodies it takes besides JSON (and, for ``csv``/``npy``, answers in)."""
        ...

    @property
    def score_labels(self) -> Mapping[str, Sequence[str]]:
        """Class labels of the columns of each score output (OIP classification names them)."""
        ...

    @property
    def embedder(self) -> Embedder | None:
        """Its embeddings, when the model answers them (OpenAI ``/v1/embeddings``); else None."""
        ...

    def preprocess(self, inputs: Inputs) -> Feed:
        """The onnxruntime feed for ``inputs``; InvalidInputError (400) naming what to fix."""
        ...

    def postprocess(self, feed: Feed, outputs: Outputs) -> Outputs:
        """The outputs answered for ``feed`` (e.g. pooled with its attention mask)."""
        ...

    def answer(self, inputs: Inputs, feed: Feed, outputs: Outputs, style: Style) -> Answers:
        """The answers to ``inputs`` in ``style`` (``top_k`` and the like read from ``inputs.options``)."""
        ...
