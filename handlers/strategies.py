"""Inference strategies: how ``await runtime.infer(feed)`` runs the model, chosen when the repository is loaded.

=====================  ==============================================================================
:class:`Inline`        ``session.run`` on the event loop (fastest for runs of a few microseconds)
:class:`Threaded`      in a worker thread, the event loop stays free; a cancelled call stops its run
:class:`Adaptive`      inline when the warm single-row run is under ``MAASKIT_INLINE_MAX_MS``, else threaded
:class:`Batched`       a :class:`~handlers.batching.MicroBatcher` per model version (the SageMaker entry)
:class:`Budgeted`      wraps a cancellable strategy: past ``MAASKIT_INFERENCE_TIMEOUT_MS`` the caller gets
                       504 and the run is stopped (``RunOptions.terminate``); around a batcher the budget
                       covers the queue, the batch wait and the run, and a batch whose callers all gave
                       up is stopped
=====================  ==============================================================================

:func:`choose_strategy` composes them from the settings; ``ModelRepository.load(settings, strategy=...)``
binds one to every runtime after its warm-up. Strategies compose instead of patching ``runtime.infer``,
so a budget is never silently dropped.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from handlers.batching import BatchConfig, MicroBatcher
from handlers.errors import InferenceTimeoutError
from handlers.settings import Settings

if TYPE_CHECKING:
    from handlers.engine import Inferencer, ModelRuntime
    from handlers.vocabulary import Feed, Outputs

__all__ = ["Adaptive", "Batched", "Budgeted", "Inline", "Strategy", "Threaded", "choose_strategy"]

logger = logging.getLogger("maaskit.engine")


def _run_options() -> Any:
    import onnxruntime  # already loaded by the session

    return onnxruntime.RunOptions()


class Strategy(ABC):
    """Makes a runtime's awaitable ``infer`` from its synchronous ``run``."""

    #: Whether cancelling a call frees the caller at once (and stops its run): what a budget needs.
    cancellable = True

    @abstractmethod
    def bind(self, runtime: ModelRuntime) -> Inferencer:
        """The ``infer`` coroutine function for ``runtime`` (warmed up: its single-row time is known)."""

    @abstractmethod
    def describe(self) -> str:
        """How inference runs, for the startup log."""

    async def close(self) -> None:
        """Release threads this strategy started (default: none)."""
        return None


class Inline(Strategy):
    """``session.run`` on the event loop: no thread hop; a call cannot be interrupted."""

    cancellable = False

    def bind(self, runtime: ModelRuntime) -> Inferencer:
        """``runtime.run`` awaited in place."""

        async def inline(feed: Feed) -> Outputs:
            return runtime.run(feed)

        return inline

    def describe(self) -> str:
        """Inline on the event loop."""
        return "inline on the event loop"


class Threaded(Strategy):
    """In the event loop's default thread pool; a cancelled call tells onnxruntime to stop its run."""

    def bind(self, runtime: ModelRuntime) -> Inferencer:
        """``runtime.run`` in a worker thread with its own RunOptions."""

        async def threaded(feed: Feed) -> Outputs:
            options = _run_options()
            future = asyncio.get_running_loop().run_in_executor(None, runtime.run, feed, options)
            try:
                return await future
            except asyncio.CancelledError:
                options.terminate = True  # onnxruntime stops at the next operator; the thread is freed
                future.add_done_callback(lambda done: done.cancelled() or done.exception())
                raise

        return threaded

    def describe(self) -> str:
        """In a worker thread."""
        return "in a worker thread"


class Adaptive(Strategy):
    """Inline for models whose warm single-row run takes at most ``inline_max_ms``, threaded otherwise."""

    cancellable = False

    def __init__(self, inline_max_ms: float) -> None:
        self.inline_max_ms = inline_max_ms

    def bind(self, runtime: ModelRuntime) -> Inferencer:
        """Inline or threaded by the runtime's measured single-row time; a batch whose rows would take longer
        than the threshold together goes to the thread even for a fast model (a health check never waits)."""
        row_ms = max(runtime.single_row_ms or 0.0, 1e-3)
        threaded = Threaded().bind(runtime)
        if row_ms > self.inline_max_ms:
            return threaded
        inline, inline_rows = Inline().bind(runtime), max(1, int(self.inline_max_ms / row_ms))

        async def adaptive(feed: Feed) -> Outputs:
            rows = max((array.shape[0] for array in feed.values() if array.ndim), default=1)
            return await (threaded(feed) if rows > inline_rows else inline(feed))

        return adaptive

    def describe(self) -> str:
        """Inline up to the threshold, else threaded."""
        return f"inline when a request's rows take under {self.inline_max_ms:g} ms, else in a worker thread"


class Batched(Strategy):
    """One micro-batcher per model version: concurrent requests share runs (see :mod:`handlers.batching`)."""

    def __init__(self, config: BatchConfig) -> None:
        self.config = config
        self.batchers: list[MicroBatcher] = []

    def bind(self, runtime: ModelRuntime) -> Inferencer:
        """The runtime's batcher's ``submit`` (batches are stopped when all their callers give up)."""
        batcher = MicroBatcher(
            runtime.run, runtime.manifest.inputs, self.config, name=runtime.key, run_options=_run_options
        )
        self.batchers.append(batcher)
        return batcher.submit

    def describe(self) -> str:
        """The batch bounds."""
        return f"batched up to {self.config.max_batch_size} rows / {self.config.max_wait_ms:g} ms"

    async def close(self) -> None:
        """Close every batcher (queued requests fail with BatcherClosedError) and its worker thread."""
        for batcher in self.batchers:
            await batcher.close()
        logger.info("shut down: %d request batcher(s) closed", len(self.batchers))


class Budgeted(Strategy):
    """``inner`` within a time budget: 504 past it, the run stopped, the next request served."""

    def __init__(self, inner: Strategy, budget_ms: float) -> None:
        if not inner.cancellable:
            raise ValueError(f"a budget needs a strategy it can interrupt, not {type(inner).__name__}")
        if budget_ms <= 0:
            raise ValueError(f"an inference budget must be positive, got {budget_ms:g} ms")
        self.inner = inner
        self.budget_ms = budget_ms

    def bind(self, runtime: ModelRuntime) -> Inferencer:
        """``inner``'s infer, cancelled (and so stopped) once the budget has passed."""
        infer = self.inner.bind(runtime)
        budget_s = self.budget_ms / 1000
        message = (
            f"model {runtime.name} {runtime.version} took longer than its {self.budget_ms:.0f} ms budget and "
            "was stopped; send fewer rows per request or raise MAASKIT_INFERENCE_TIMEOUT_MS"
        )

        async def budgeted(feed: Feed) -> Outputs:
            try:
                return await asyncio.wait_for(infer(feed), budget_s)
            except TimeoutError:
                raise InferenceTimeoutError(message) from None

        return budgeted

    def describe(self) -> str:
        """The inner strategy and the budget."""
        return f"{self.inner.describe()}, within a {self.budget_ms:g} ms budget"

    async def close(self) -> None:
        """Close the inner strategy."""
        await self.inner.close()


def choose_strategy(settings: Settings, batch: BatchConfig | None = None) -> Strategy:
    """The strategy the settings ask for: batched (when ``batch``, default the settings' batching, is enabled)
    or adaptive, within the budget.

    With ``MAASKIT_INFERENCE_TIMEOUT_MS`` set and no batching, runs go to a worker thread (an inline
    run cannot be interrupted).
    """
    budget = settings.inference_timeout_ms
    batch = BatchConfig.from_settings(settings) if batch is None else batch
    if batch is not None and batch.enabled:
        base: Strategy = Batched(batch)
    elif budget > 0:
        base = Threaded()
    else:
        base = Adaptive(settings.inline_max_ms)
    return Budgeted(base, budget) if budget > 0 else base
