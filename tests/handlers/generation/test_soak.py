"""50 concurrent streams against one generation worker: each is answered whole or refused with 429, never mixed.

Every stream carries its own prompt, so a token handed to the wrong stream shows as a wrong answer: the
greedy text each admitted stream receives must be the text the same prompt gives alone.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.generation.engine import GenerationRequest
from handlers.generation.runtime import GenerativeRuntime, load_generative
from handlers.settings import Settings
from tests.handlers.conftest import LiveServer

STREAMS = 50
QUEUE = 8
MAX_TOKENS = 6
DEADLINE_S = 240.0


@pytest.fixture(scope="module")
def soak(qwen_bundle: Path) -> Iterator[tuple[GenerativeRuntime, LiveServer]]:
    settings = Settings.load(environ={}, access_log=False, metrics="none")
    runtime = load_generative(qwen_bundle, settings, max_waiting=QUEUE)
    try:
        with LiveServer(create_app(ModelRepository([runtime]), settings)) as server:
            yield runtime, server
    finally:
        runtime.close()


def _messages(index: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"stream {index}: tell me about the number {index * 7}"}]


async def _stream(client: httpx.AsyncClient, url: str, index: int) -> tuple[int, str, list[str]]:
    body = {"model": "tiny-qwen2", "messages": _messages(index), "temperature": 0, "max_tokens": MAX_TOKENS,
            "stream": True}  # fmt: skip
    async with client.stream("POST", url, json=body) as response:
        raw = (await response.aread()).decode()
    if response.status_code != 200:
        return response.status_code, raw, []
    events = [block.removeprefix("data: ") for block in raw.strip("\n").split("\n\n")]
    return 200, raw, events


def _text(events: list[str]) -> str:
    chunks = [json.loads(event) for event in events[:-1]]
    return "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk["choices"])


def test_fifty_streams_are_answered_whole_or_refused_and_never_mixed(
    soak: tuple[GenerativeRuntime, LiveServer],
) -> None:
    runtime, server = soak
    processor = runtime.generation_processor
    expected = {}
    for index in range(STREAMS):  # each prompt alone, straight on the engine
        ids = processor.chat_ids(_messages(index))
        text, _ = runtime.engine.generate(GenerationRequest(ids, MAX_TOKENS, temperature=0.0))
        expected[index] = text
    assert len(set(expected.values())) > 1, "the prompts must not all give the same answer"

    async def run() -> list[tuple[int, str, list[str]]]:
        limits = httpx.Limits(max_connections=STREAMS)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            url = server.url + "/v1/chat/completions"
            return await asyncio.wait_for(
                asyncio.gather(*(_stream(client, url, index) for index in range(STREAMS))), DEADLINE_S
            )

    started = time.monotonic()
    results = asyncio.run(run())
    assert time.monotonic() - started < DEADLINE_S
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {200, 429}, statuses  # never a 500
    admitted = [index for index, status in enumerate(statuses) if status == 200]
    assert len(admitted) >= QUEUE  # the queue's worth (and the one generating) got through
    for index in admitted:
        _, raw, events = results[index]
        assert events[-1] == "[DONE]", raw[-200:]
        assert _text(events) == expected[index], f"stream {index} got another stream's tokens"
    for index, (status, raw, _) in enumerate(results):
        if status == 429:
            assert json.loads(raw)["error"]["code"] == "rate_limit_exceeded", index
    assert runtime.engine.waiting == 0  # nothing left behind in the queue
