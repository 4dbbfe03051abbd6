"""Fixtures: the tiny generative bundles (as tests/handlers/generation packages them) beside a tabular model, served
over real HTTP on loopback; helpers that slow a model down, break it mid-stream or fill its queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.generation.engine import Event, GenerationEngine, GenerationRequest
from handlers.generation.runtime import GenerativeRuntime
from tests.handlers.conftest import LiveServer
from tests.handlers.generation.conftest import gen_root, gen_runtimes, gen_settings, llama_bundle, qwen_bundle

__all__ = ["gen_root", "gen_runtimes", "gen_settings", "llama_bundle", "qwen_bundle"]


@pytest.fixture(scope="session")
def mixed_live(
    gen_runtimes: list[GenerativeRuntime], repository: ModelRepository, gen_settings
) -> Iterator[LiveServer]:
    """tiny-qwen2 (queue of 2), tiny-llama and the tabular iris classifier behind one app."""
    with LiveServer(create_app(ModelRepository([*gen_runtimes, repository.get("iris")]), gen_settings)) as server:
        yield server


@pytest.fixture
def qwen_engine(gen_runtimes: list[GenerativeRuntime]) -> GenerationEngine:
    return next(runtime for runtime in gen_runtimes if runtime.name == "tiny-qwen2").engine


class Decoders:
    """Stands in for the engine's tokenizer: every decoded token waits ``delay`` s; token ``fail_at`` raises."""

    def __init__(self, tokenizer: Any, delay: float = 0.0, fail_at: int | None = None) -> None:
        self.tokenizer, self.delay, self.fail_at = tokenizer, delay, fail_at

    def create_stream(self) -> object:
        stream = self.tokenizer.create_stream()
        outer = self

        class Decoder:
            count = 0

            def decode(self, token: int) -> str:
                self.count += 1
                if outer.fail_at is not None and self.count >= outer.fail_at:
                    raise RuntimeError("the decoder broke")
                time.sleep(outer.delay)
                return str(stream.decode(token))

        return Decoder()


@pytest.fixture
def slow_or_broken(qwen_engine: GenerationEngine, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``slow_or_broken(delay=0.02)`` or ``slow_or_broken(fail_at=3)`` on tiny-qwen2's engine (undone after)."""

    def apply(delay: float = 0.0, fail_at: int | None = None) -> None:
        monkeypatch.setattr(qwen_engine, "tokenizer", Decoders(qwen_engine.tokenizer, delay, fail_at))

    return apply


@contextmanager
def held_worker(engine: GenerationEngine) -> Iterator[threading.Event]:
    """The engine's worker busy on a job until the yielded event is set (set on leaving)."""
    release = threading.Event()

    def hold(event: Event) -> None:  # called on the worker thread: holds it on its first event
        release.wait(30)

    engine.submit(GenerationRequest([1, 2, 3], 4, temperature=0.0), hold)
    deadline = time.monotonic() + 10
    while engine.waiting:
        assert time.monotonic() < deadline, "the worker did not take the blocking job"
        time.sleep(0.01)
    try:
        yield release
    finally:
        release.set()


def wait_for_cancel(engine: GenerationEngine, since: float, within: float = 5.0) -> float:
    """Seconds from ``since`` until the engine's last generation ended cancelled (fails after ``within``)."""
    while not engine.finished or engine.finished[-1].reason != "cancelled":
        assert time.monotonic() - since < within, list(engine.finished)[-3:]
        time.sleep(0.005)
    return time.monotonic() - since
