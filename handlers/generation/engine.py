"""The generation engine: one onnxruntime-genai model per process, owned by one worker thread.

Requests wait in a bounded admission queue (:class:`QueueFullError`, 429 with Retry-After, past it)
and run one at a time (CPU: one sequence at a time per worker). Each token step's text goes to the
request's :class:`Sink` as it comes (an asyncio queue fed with ``call_soon_threadsafe`` for the
server); a cancelled request (client gone) stops before its next token step.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from handlers.generation.errors import QueueFullError
from handlers.generation.stops import StopMatcher

__all__ = ["Delta", "Event", "Failed", "Finished", "GenerationEngine", "GenerationRequest", "Job", "Stream"]

logger = logging.getLogger("maaskit.generation")
FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate: prompt ids and sampling (temperature 0: greedy)."""

    prompt_ids: list[int]
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    repetition_penalty: float = 1.0
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    deadline: float | None = None
    """``time.monotonic()`` past which generation ends (``length``): the per-request time budget."""


@dataclass(frozen=True)
class Delta:
    """Text that is safe to send (stop strings held back), and the tokens it came from."""

    text: str
    tokens: int
    token_id: int | None = None
    """The last token the text came from (None for text held back for a stop string and flushed at the end)."""


@dataclass(frozen=True)
class Finished:
    """The end of a generation: why, and the token counts (``usage``)."""

    reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    token_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Failed:
    """The generation failed after it started."""

    message: str


Event = Delta | Finished | Failed
Sink = Callable[[Event], None]


class Job:
    """One admitted request: its sink and its cancellation flag."""

    def __init__(self, request: GenerationRequest, sink: Sink) -> None:
        self.request = request
        self.sink = sink
        self.cancelled = threading.Event()
        self.submitted = time.monotonic()

    def cancel(self) -> None:
        """Stop before the next token step (or never start)."""
        self.cancelled.set()


class Stream:
    """The asyncio side of a job: iterate its events; ``cancel()`` when the client goes away."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self.job: Job | None = None

    def push(self, event: Event) -> None:
        """Called on the worker thread: hand ``event`` to the event loop."""
        try:
            self._loop.call_soon_threadsafe(self._events.put_nowait, event)
        except RuntimeError:  # the loop closed: nobody listens any more
            if self.job is not None:
                self.job.cancel()

    def cancel(self) -> None:
        """Stop the generation within one token step."""
        if self.job is not None:
            self.job.cancel()

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            event = await self._events.get()
            yield event
            if not isinstance(event, Delta):
                return


class GenerationEngine:
    """The worker that owns ``og.Model``; :meth:`stream` / :meth:`generate` run requests through it."""

    def __init__(
        self,
        model_dir: Path,
        eos_token_ids: Iterable[int],
        vocab_size: int,
        *,
        max_waiting: int = 16,
        on_cuda: bool = False,
    ) -> None:
        import onnxruntime_genai as og

        from bundle.genai import open_genai_model

        self._og = og
        # threads block between operators: spinning ones starve the event loop that streams the tokens (measured
        # on SmolLM2-135M's shape, int4, 2 cores: served 71 -> 82 tok/s, in-process 82 either way)
        self.model = open_genai_model(model_dir, on_cuda=on_cuda, spinning=False)
        self.tokenizer = og.Tokenizer(self.model)
        self.eos = frozenset(int(token) for token in eos_token_ids)
        self.vocab_size = vocab_size
        self.max_waiting = max_waiting
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._busy = False
        self._seconds_per_job = 1.0
        self.finished: collections.deque[Finished] = collections.deque(maxlen=64)
        """The last generations' endings, newest last (reason and token counts)."""
        self._thread = threading.Thread(target=self._work, name="maaskit-generation", daemon=True)
        self._thread.start()

    # -- admission ---------------------------------------------------------------------------------
    def submit(self, request: GenerationRequest, sink: Sink) -> Job:
        """Queue ``request``; QueueFullError (429) when ``max_waiting`` requests already wait."""
        with self._lock:
            if self._waiting >= self.max_waiting:
                retry = max(1, math.ceil(self._seconds_per_job * (self._waiting + 1)))
                raise QueueFullError(
                    f"the generation queue is full ({self._waiting} requests waiting); retry in {retry} s",
                    retry_after=retry,
                )
            self._waiting += 1
        job = Job(request, sink)
        self._jobs.put(job)
        return job

    def stream(self, request: GenerationRequest) -> Stream:
        """Submit from the event loop; iterate the returned stream for its events."""
        stream = Stream(asyncio.get_running_loop())
        stream.job = self.submit(request, stream.push)
        return stream

    def generate(self, request: GenerationRequest, timeout: float = 600.0) -> tuple[str, Finished]:
        """Blocking generation (warm-up, scripts): the whole text and how it finished."""
        done = threading.Event()
        events: list[Event] = []

        def sink(event: Event) -> None:
            events.append(event)
            if not isinstance(event, Delta):
                done.set()

        job = self.submit(request, sink)
        if not done.wait(timeout):
            job.cancel()
            raise TimeoutError(f"generation did not finish within {timeout:.0f} s")
        last = events[-1]
        if isinstance(last, Failed):
            raise RuntimeError(last.message)
        assert isinstance(last, Finished)
        return "".join(event.text for event in events if isinstance(event, Delta)), last

    @property
    def waiting(self) -> int:
        """Requests admitted and not started."""
        return self._waiting

    def close(self) -> None:
        """Stop the worker after the job it runs."""
        self._jobs.put(None)

    # -- the worker --------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._lock:
                self._waiting -= 1
            if job.cancelled.is_set():
                job.sink(Finished("cancelled", len(job.request.prompt_ids), 0))
                continue
            started = time.monotonic()
            try:
                finished = self._run(job)
                self.finished.append(finished)
                job.sink(finished)
            except Exception as exc:  # the generator's own errors: the request fails, the worker goes on
                logger.exception("generation failed")
                job.sink(Failed(f"generation failed: {str(exc).strip()[:300]}"))
            elapsed = time.monotonic() - started
            self._seconds_per_job = 0.8 * self._seconds_per_job + 0.2 * elapsed

    def _params(self, request: GenerationRequest) -> Any:
        params = self._og.GeneratorParams(self.model)
        options: dict[str, Any] = {"max_length": len(request.prompt_ids) + request.max_new_tokens, "batch_size": 1}
        if request.temperature <= 0:
            options["do_sample"] = False
        else:
            options.update(do_sample=True, temperature=request.temperature, top_p=request.top_p,
                           top_k=request.top_k if request.top_k > 0 else self.vocab_size)  # fmt: skip
        if request.repetition_penalty != 1.0:
            options["repetition_penalty"] = request.repetition_penalty
        if request.seed is not None:
            options["random_seed"] = request.seed & 0x7FFFFFFF  # onnxruntime-genai takes a 31-bit seed
        params.set_search_options(**options)
        return params

    def _run(self, job: Job) -> Finished:
        request = job.request
        generator = self._og.Generator(self.model, self._params(request))
        generator.append_tokens(np.asarray([request.prompt_ids], dtype=np.int32))
        decoder = self.tokenizer.create_stream()
        stops = StopMatcher(request.stop)
        produced: list[int] = []
        reason: FinishReason = "length"
        while len(produced) < request.max_new_tokens:
            if job.cancelled.is_set():
                reason = "cancelled"
                break
            if request.deadline is not None and time.monotonic() >= request.deadline:
                break  # the time budget is spent: what was generated is answered, finish_reason length
            generator.generate_next_token()
            token = int(generator.get_next_tokens()[0])
            produced.append(token)
            if token in self.eos and not request.ignore_eos:
                reason = "stop"
                break
            text, stopped = stops.feed(decoder.decode(token))
            if text:
                job.sink(Delta(text, 1, token))
                time.sleep(0)  # hand the GIL to the event loop now, not at the next 5 ms switch: chunks go out at once
            if stopped:
                reason = "stop"
                break
            if generator.is_done() and not request.ignore_eos:
                break
        tail = stops.flush()  # held back for a stop string that never came
        if tail and reason != "cancelled":
            job.sink(Delta(tail, 0))
        return Finished(reason, len(request.prompt_ids), len(produced), produced)
