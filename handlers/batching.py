"""Micro-batching: gather concurrent requests for one model version into one ``run``.

A :class:`MicroBatcher` sits in front of a synchronous ``run(feed) -> outputs``
(one onnxruntime session). Callers ``await batcher.submit(feed)``; the batcher
concatenates the feeds of requests waiting at the same time along the batch
axis, runs them once on its own worker thread (the event loop stays free to
parse the next requests), and hands each caller its slice of the outputs.

Batching policy:

* A request joins a batch only when every model input has a dynamic leading
  axis and the request's arrays agree on their row count; requests are grouped
  by trailing shapes and dtypes, so only compatible feeds are concatenated.
  Anything else (fixed batch axis, scalars, ragged feeds, a request bigger than
  ``max_batch_size``) runs alone, in arrival order.
* A batch is dispatched once it holds ``max_batch_size`` rows or when
  ``max_wait_ms`` has passed since its first request; while the worker is busy
  new requests queue up, so batches grow with load. The wait is adaptive: a
  request that arrives alone after a run of one request is dispatched at once
  (no concurrent traffic, so waiting would only add latency); as soon as
  requests overlap, batches wait up to ``max_wait_ms`` to fill.
* If a batch fails, each of its requests is re-run alone: every caller gets its
  own result or its own exception, and one poisoned request cannot fail the
  others. If the outputs cannot be split by rows (an output without the batch
  axis), the batch is re-run request by request and the model is marked
  unbatchable from then on.
* A caller that is cancelled while waiting is dropped from its batch. With ``run_options`` (a
  factory of onnxruntime ``RunOptions``), each batch runs with its own options, and a batch whose
  callers have all been cancelled (e.g. by an inference budget, see :mod:`handlers.strategies`)
  is stopped with ``options.terminate``: the worker is free for the next batch at once.

Validation against the manifest happens before ``submit``, in the engine.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bundle.manifest import TensorSpec
from handlers.settings import Settings
from handlers.vocabulary import Feed, Outputs

__all__ = ["BatchConfig", "BatchStats", "BatcherClosedError", "MicroBatcher", "RunFn"]

logger = logging.getLogger("maaskit.batching")

#: The synchronous inference function a batcher fronts: named inputs to named outputs (with
#: ``run_options``, it also takes the batch's options: ``run(feed, options)``).
RunFn = Callable[..., Outputs]


class BatcherClosedError(RuntimeError):
    """The batcher was closed (server shutting down); the request was not run."""


@dataclass(frozen=True)
class BatchConfig:
    """Bounds of a batch: ``max_batch_size`` rows, ``max_wait_ms`` after the first request."""

    enabled: bool = True
    max_batch_size: int = 32
    max_wait_ms: float = 2.0

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {self.max_batch_size}")
        if not 0 <= self.max_wait_ms <= 1000:
            raise ValueError(f"max_wait_ms must be between 0 and 1000, got {self.max_wait_ms}")

    @classmethod
    def from_settings(cls, settings: Settings) -> BatchConfig:
        """The batching the settings ask for (``MAASKIT_BATCHING``, ``_BATCH_MAX_SIZE``, ``_BATCH_MAX_WAIT_MS``)."""
        return cls(settings.batching, settings.batch_max_size, settings.batch_max_wait_ms)


@dataclass
class BatchStats:
    """Counters for observability and benchmarks."""

    requests: int = 0
    batches: int = 0
    rows: int = 0
    solo_retries: int = 0
    largest_batch: int = 0

    @property
    def mean_batch_requests(self) -> float:
        """Average number of requests per ``run``."""
        return self.requests / self.batches if self.batches else 0.0


Signature = tuple[tuple[str, str, tuple[int, ...]], ...]


@dataclass
class _Pending:
    feed: Feed
    rows: int
    signature: Signature | None  # None: cannot share a run
    future: asyncio.Future[Outputs] = field(repr=False)


def _slice_outputs(outputs: Outputs, offsets: list[int], total: int) -> list[Outputs] | None:
    """Split batched outputs by row offsets; None when some output lacks the batch axis."""
    parts: list[Outputs] = [{} for _ in range(len(offsets) - 1)]
    for name, value in outputs.items():
        if not isinstance(value, np.ndarray) or value.ndim == 0 or value.shape[0] != total:
            return None
        for index in range(len(parts)):
            parts[index][name] = value[offsets[index] : offsets[index + 1]]
    return parts


class MicroBatcher:
    """Batch concurrent ``submit`` calls for one model version into single ``run`` calls."""

    def __init__(
        self,
        run: RunFn,
        inputs: Sequence[TensorSpec],
        config: BatchConfig | None = None,
        *,
        name: str = "model",
        run_options: Callable[[], Any] | None = None,
    ) -> None:
        self._run_fn = run
        self._run_options = run_options
        self._running: tuple[list[_Pending], Any] | None = None  # the batch on the worker, its options
        self._config = config or BatchConfig()
        self._names = {spec.name for spec in inputs}
        self._batchable = bool(inputs) and all(spec.shape and spec.shape[0] is None for spec in inputs)
        self._name = name
        self._queue: collections.deque[_Pending] = collections.deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"maaskit-batch-{name}")
        self._closed = False
        self.stats = BatchStats()
        self._last_batch_requests = 0

    @property
    def config(self) -> BatchConfig:
        """The bounds this batcher applies."""
        return self._config

    def _signature(self, feed: Feed) -> tuple[int, Signature | None]:
        arrays = list(feed.values())
        if not self._batchable or not arrays or set(feed) != self._names:
            return 1, None
        if any(array.ndim == 0 for array in arrays):
            return 1, None
        rows = int(arrays[0].shape[0])
        if rows == 0 or any(array.shape[0] != rows for array in arrays) or rows > self._config.max_batch_size:
            return rows, None
        return rows, tuple(sorted((key, value.dtype.str, value.shape[1:]) for key, value in feed.items()))

    async def submit(self, feed: Feed) -> Outputs:
        """Queue ``feed`` for the next compatible batch and wait for its own outputs."""
        if self._closed:
            raise BatcherClosedError(f"batcher for {self._name} is closed; the server is shutting down")
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._start(loop)
        elif loop is not self._loop:
            raise RuntimeError(f"batcher for {self._name} is bound to another event loop")
        rows, signature = self._signature(feed)
        pending = _Pending(feed, rows, signature, loop.create_future())
        self._queue.append(pending)
        assert self._wakeup is not None
        self._wakeup.set()
        try:
            return await pending.future
        except asyncio.CancelledError:
            self._abandon()
            raise

    def _abandon(self) -> None:
        """A caller gave up: stop the running batch if none of its callers is still waiting."""
        running = self._running
        if running is not None and running[1] is not None and all(item.future.done() for item in running[0]):
            running[1].terminate = True

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._wakeup = asyncio.Event()
        self._task = loop.create_task(self._collect(), name=f"maaskit-batcher-{self._name}")

    async def _next_live(self) -> _Pending:
        assert self._wakeup is not None
        while True:
            while self._queue:
                item = self._queue.popleft()
                if not item.future.done():
                    return item
            self._wakeup.clear()
            await self._wakeup.wait()

    def _take_compatible(self, batch: list[_Pending], rows: int) -> int:
        """Move queued requests that fit the batch into it; keep the others in order."""
        signature = batch[0].signature
        kept: collections.deque[_Pending] = collections.deque()
        while self._queue and rows < self._config.max_batch_size:
            item = self._queue.popleft()
            if item.future.done():
                continue
            if item.signature == signature and rows + item.rows <= self._config.max_batch_size:
                batch.append(item)
                rows += item.rows
            else:
                kept.append(item)
        self._queue.extendleft(reversed(kept))
        return rows

    async def _gather(self, first: _Pending) -> list[_Pending]:
        batch = [first]
        if first.signature is None or not self._batchable:
            return batch
        assert self._loop is not None and self._wakeup is not None
        rows = self._take_compatible(batch, first.rows)
        if len(batch) == 1 and self._last_batch_requests <= 1:
            return batch  # no sign of concurrent traffic: waiting would only add latency
        deadline = self._loop.time() + self._config.max_wait_ms / 1000
        while rows < self._config.max_batch_size:
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                break
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                break
            rows = self._take_compatible(batch, rows)
        return batch

    async def _collect(self) -> None:
        assert self._loop is not None
        while True:
            first = await self._next_live()
            batch = [first]
            try:
                batch = await self._gather(first)
                live = [item for item in batch if not item.future.done()]
                results = await self._dispatch(live) if live else []
            except asyncio.CancelledError:
                self._fail(batch, BatcherClosedError(f"batcher for {self._name} closed mid-run"))
                raise
            except Exception as exc:  # a bug here must not leave callers waiting forever
                logger.exception("batcher for %s failed outside the model run", self._name)
                self._fail(batch, exc)
                continue
            for item, result in zip(live, results, strict=True):
                if item.future.done():
                    continue
                if isinstance(result, BaseException):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)

    @staticmethod
    def _fail(batch: list[_Pending], error: BaseException) -> None:
        for item in batch:
            if not item.future.done():
                item.future.set_exception(error)

    async def _dispatch(self, batch: list[_Pending]) -> list[Outputs | BaseException]:
        """Run ``batch`` on the worker thread; its options (when made) let ``_abandon`` stop it."""
        assert self._loop is not None
        options = self._run_options() if self._run_options is not None else None
        self._running = (batch, options)  # set and cleared on the event loop: no race with _abandon
        try:
            return await self._loop.run_in_executor(self._executor, self._execute, batch, options)
        finally:
            self._running = None

    def _run(self, feed: Feed, options: Any) -> Outputs:
        return self._run_fn(feed) if options is None else self._run_fn(feed, options)

    def _solo(self, item: _Pending, options: Any) -> Outputs | BaseException:
        if item.future.done():  # its caller gave up while the batch ran: do not run it again
            return BatcherClosedError(f"request to {self._name} was abandoned by its caller")
        try:
            return self._run(item.feed, options)
        except Exception as exc:
            return exc

    def _execute(self, batch: list[_Pending], options: Any) -> list[Outputs | BaseException]:
        """Worker thread: one run for the whole batch, or one per request when it must."""
        self.stats.requests += len(batch)
        self._last_batch_requests = len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        if len(batch) == 1:
            self.stats.batches += 1
            self.stats.rows += batch[0].rows
            return [self._solo(batch[0], options)]
        offsets = [0]
        for item in batch:
            offsets.append(offsets[-1] + item.rows)
        feed = {name: np.concatenate([item.feed[name] for item in batch]) for name in batch[0].feed}
        self.stats.batches += 1
        self.stats.rows += offsets[-1]
        try:
            outputs = self._run(feed, options)
        except Exception as exc:
            if all(item.future.done() for item in batch):
                return [exc for _ in batch]  # every caller gave up (the run was stopped): nothing to retry
            logger.info("batch of %d failed on %s (%s); re-running each request alone", len(batch), self._name, exc)
            return self._retry_alone(batch, options)
        parts = _slice_outputs(outputs, offsets, offsets[-1])
        if parts is None:
            logger.warning("outputs of %s have no batch axis to split; batching is now off for it", self._name)
            self._batchable = False
            return self._retry_alone(batch, options)
        return list(parts)

    def _retry_alone(self, batch: list[_Pending], options: Any) -> list[Outputs | BaseException]:
        self.stats.solo_retries += len(batch)
        self.stats.batches += len(batch)
        return [self._solo(item, options) for item in batch]

    async def close(self) -> None:
        """Fail queued requests with BatcherClosedError, stop the collector and the worker thread."""
        self._closed = True
        self._fail(list(self._queue), BatcherClosedError(f"batcher for {self._name} closed before the run"))
        self._queue.clear()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self._executor.shutdown, True)
