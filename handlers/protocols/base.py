"""The protocol interface: a codec per inference route, one generic endpoint that runs the pipeline.

A protocol module exposes ``router(repository, settings) -> RouteTable``. Its table declares the
protocol's name, the path prefixes it owns and its error shape (:mod:`handlers.routing`); its
inference routes are :func:`inference_endpoint` over a :class:`Codec`, which says only what is
particular to the protocol:

``resolve``        which model version the request is for (default: ``{name}``/``{version}`` path
                   parameters, then ``?version=`` / X-Maaskit-Model-Version); may read the body
                   (``await call.body()``) when the body names the model
``check_headers``  refuse what the headers already show is wrong (Content-Type, Accept), before
                   the body is read
``decode``         body -> :class:`Decoded`: family-neutral :class:`~handlers.vocabulary.Inputs`
                   (values by name, one unnamed value, rows, token ids) and the ``state`` that
                   ``encode`` needs (requested outputs, row or columnar form, Accept type)
``encode``         :class:`Result` -> the protocol's answer, from ``result.answer(style)`` (the
                   processor's :class:`~handlers.vocabulary.Answers`) and the raw ``outputs``

A codec never asks which family a model is: what the inputs mean and how each example is answered
is the processor's (see :mod:`handlers.processing`).

The endpoint does the rest, the same for every protocol: resolve, check, read the body (bounded,
inflated), decode, the model's processor (``preprocess`` into a validated feed), inference through
the runtime's injected strategy, ``postprocess``, encode; the table renders any ServingError. Decoding
and encoding a body of ``MAASKIT_OFFLOAD_BYTES`` or more run in a worker thread (:mod:`handlers.offload`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from handlers.engine import ModelRepository, ModelRuntime
from handlers.http import describe_model, pinned_version, read_body
from handlers.metering import record_feed
from handlers.offload import off_loop
from handlers.routing import Endpoint
from handlers.settings import Settings
from handlers.vocabulary import Answers, Feed, Inputs, Outputs, Style

__all__ = ["Call", "Codec", "Decoded", "Result", "inference_endpoint", "path_runtime"]

State = TypeVar("State")


class Call:
    """One request on its way through the pipeline: the request, the repository, the body (read once)."""

    __slots__ = ("_body", "limit", "repository", "request")

    def __init__(self, request: Request, repository: ModelRepository, limit: int) -> None:
        self.request = request
        self.repository = repository
        self.limit = limit
        self._body: bytes | None = None

    async def body(self) -> bytes:
        """The request body: at most ``limit`` bytes after inflation (413 past it), read on first use."""
        if self._body is None:
            self._body = await read_body(self.request, self.limit)
        return self._body


@dataclass(frozen=True)
class Decoded(Generic[State]):
    """A decoded request: the model's inputs and what the encoder needs to know about the request."""

    inputs: Inputs
    state: State


@dataclass(frozen=True)
class Result(Generic[State]):
    """What the encoder gets: the runtime that answered, the request's state and inputs, the feed and the outputs."""

    runtime: ModelRuntime
    state: State
    feed: Feed
    outputs: Outputs
    inputs: Inputs = field(default_factory=Inputs)

    def answer(self, style: Style) -> Answers:
        """The processor's answers in ``style`` (labels mapped, per-example answers where the family has them)."""
        return self.runtime.processor.answer(self.inputs, self.feed, self.outputs, style)


def path_runtime(repository: ModelRepository, request: Request) -> ModelRuntime:
    """The runtime named by the ``{name}`` (and optional ``{version}``) path parameters or a pinned version."""
    params = request.path_params
    runtime = repository.get(params["name"], pinned_version(request, params.get("version")))
    describe_model(request, runtime.name, runtime.version)
    return runtime


class Codec(ABC, Generic[State]):
    """The protocol-specific half of an inference route (see the module docstring)."""

    async def resolve(self, call: Call) -> ModelRuntime:
        """The model version this request is for (raises ModelNotFoundError / VersionNotFoundError)."""
        return path_runtime(call.repository, call.request)

    def check_headers(self, request: Request, runtime: ModelRuntime) -> None:
        """Refuse, before the body is read, what the headers show is wrong (default: nothing)."""

    @abstractmethod
    def decode(self, request: Request, runtime: ModelRuntime, body: bytes) -> Decoded[State]:
        """The request's inputs and state; InvalidInputError (400) naming what to fix."""

    @abstractmethod
    def encode(self, result: Result[State]) -> Response:
        """The protocol's answer for ``result``."""


def inference_endpoint(codec: Codec[State], repository: ModelRepository, settings: Settings) -> Endpoint:
    """The one inference pipeline, specialised by ``codec``: register it with ``api.post(path, ...)``.

    The endpoint is named after the codec class (``Predict`` -> ``predict``), which names the route
    and its OpenAPI operation; the codec's docstring describes it.
    """
    limit = settings.max_body_bytes

    async def infer(request: Request) -> Response:
        call = Call(request, repository, limit)
        runtime = await codec.resolve(call)
        describe_model(request, runtime.name, runtime.version)
        codec.check_headers(request, runtime)
        body = await call.body()
        processor = runtime.processor

        def decode() -> tuple[Decoded[State], Feed]:
            decoded = codec.decode(request, runtime, body)
            return decoded, processor.preprocess(decoded.inputs)

        decoded, feed = await off_loop(request, len(body), decode)  # a large body never holds up /ping
        record_feed(request, feed)  # text feeds' tokens and speech feeds' seconds (handlers.metering)
        outputs = processor.postprocess(feed, await runtime.infer(feed))
        result = Result(runtime, decoded.state, feed, outputs, decoded.inputs)
        return await off_loop(request, len(body), lambda: codec.encode(result))

    infer.__name__ = infer.__qualname__ = type(codec).__name__.lower()
    infer.__doc__ = type(codec).__doc__
    return infer
