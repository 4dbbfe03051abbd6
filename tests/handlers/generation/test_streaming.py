"""Streams as OpenAI sends them, under abuse: raw SSE framing, disconnects, a full admission queue."""

from __future__ import annotations

import json
import threading
import time

import httpx

from handlers.generation.engine import GenerationRequest
from handlers.generation.runtime import GenerativeRuntime
from tests.handlers.conftest import LiveServer

CHAT = {"model": "tiny-qwen2", "messages": [{"role": "user", "content": "hello"}], "temperature": 0}


def _events(body: str) -> list[str]:
    assert body.endswith("\n\n")
    return [block.removeprefix("data: ") for block in body.strip("\n").split("\n\n")]


def test_raw_sse_framing(gen_live: LiveServer) -> None:
    ask = {**CHAT, "max_tokens": 8, "stream": True, "stream_options": {"include_usage": True}}
    response = httpx.post(gen_live.url + "/v1/chat/completions", json=ask, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-2]["choices"][0]["finish_reason"] == "length" and chunks[-2]["choices"][0]["delta"] == {}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 8
    assert all(chunk["usage"] is None for chunk in chunks[:-1])


class _SlowTokenizer:
    """The engine's tokenizer with 20 ms per decoded token: a model slow enough to disconnect from mid-stream."""

    def __init__(self, tokenizer: object) -> None:
        self.tokenizer = tokenizer

    def create_stream(self) -> object:
        stream = self.tokenizer.create_stream()

        class Slow:
            def decode(self, token: int) -> str:
                time.sleep(0.02)
                return stream.decode(token)

        return Slow()


def test_disconnect_stops_generation_within_a_step(gen_live: LiveServer, gen_runtimes, monkeypatch) -> None:
    engine = next(r for r in gen_runtimes if r.name == "tiny-qwen2").engine
    monkeypatch.setattr(engine, "tokenizer", _SlowTokenizer(engine.tokenizer))
    ask = {**CHAT, "max_tokens": 200, "stream": True}
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", gen_live.url + "/v1/chat/completions", json=ask) as r,
    ):
        lines = r.iter_lines()
        assert next(lines).startswith("data: ")  # the role chunk
        assert next(lines) == ""
        assert next(lines).startswith("data: ")  # a first content delta: the generation runs
        closed = time.monotonic()
    # leaving the block closed the connection mid-stream
    while not engine.finished or engine.finished[-1].reason != "cancelled":
        assert time.monotonic() - closed < 5, list(engine.finished)[-3:]
        time.sleep(0.005)
    stopped_after = time.monotonic() - closed
    assert engine.finished[-1].completion_tokens < 50
    assert stopped_after < 0.5, f"generation stopped {stopped_after * 1000:.0f} ms after the disconnect"
    monkeypatch.undo()
    assert engine.generate(GenerationRequest([1, 2, 3], 2))[1].reason in {"length", "stop"}  # the worker goes on


def test_full_queue_answers_429_with_retry_after(gen_live: LiveServer, gen_runtimes: list[GenerativeRuntime]) -> None:
    engine = next(r for r in gen_runtimes if r.name == "tiny-qwen2").engine  # max_waiting=2
    release = threading.Event()

    def blocking(event: object) -> None:  # holds the worker on its first event (called on the worker thread)
        release.wait(30)

    engine.submit(GenerationRequest([1, 2, 3], 4, temperature=0.0), blocking)
    deadline = time.monotonic() + 10
    while engine.waiting:  # the worker took it
        assert time.monotonic() < deadline
        time.sleep(0.01)
    answers: list[httpx.Response] = []

    def ask() -> None:
        answers.append(httpx.post(gen_live.url + "/v1/chat/completions", json={**CHAT, "max_tokens": 4}, timeout=30))

    waiting = [threading.Thread(target=ask) for _ in range(2)]
    for thread in waiting:
        thread.start()
    while engine.waiting < 2:
        assert time.monotonic() < deadline + 10, engine.waiting
        time.sleep(0.01)
    refused = httpx.post(gen_live.url + "/v1/chat/completions", json={**CHAT, "max_tokens": 4}, timeout=30)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    release.set()
    for thread in waiting:
        thread.join(30)
    assert [answer.status_code for answer in answers] == [200, 200]
    texts = {answer.json()["choices"][0]["message"]["content"] for answer in answers}
    assert len(texts) == 1  # the same greedy answer for both: nothing mixed between streams


def test_tensor_protocols_point_to_the_generation_routes(gen_live: LiveServer) -> None:
    response = httpx.post(gen_live.url + "/models/tiny-qwen2/predict", json={"inputs": {"x": [1]}}, timeout=30)
    assert response.status_code == 400
    assert "/v1/chat/completions" in response.text


def test_time_budget_ends_generation_with_length(gen_runtimes, monkeypatch) -> None:
    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.settings import Settings

    engine = next(r for r in gen_runtimes if r.name == "tiny-qwen2").engine
    monkeypatch.setattr(engine, "tokenizer", _SlowTokenizer(engine.tokenizer))  # 20 ms a token
    settings = Settings.load(environ={}, access_log=False, metrics="none", inference_timeout_ms=200)
    with LiveServer(create_app(ModelRepository(gen_runtimes), settings)) as server:
        started = time.monotonic()
        answer = httpx.post(server.url + "/v1/chat/completions", json={**CHAT, "max_tokens": 200}, timeout=30)
        elapsed = time.monotonic() - started
    assert answer.status_code == 200
    body = answer.json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] < 30
    assert elapsed < 2.0
