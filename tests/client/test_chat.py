"""``MaaskitClient.chat`` / ``.complete`` and ``maaskit chat`` against a tiny Llama-style bundle served on
127.0.0.1 (the real app under uvicorn), and the SSE re-buffering of HTTP reads and SageMaker PayloadParts."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from maaskit.chat_cli import served_bundle
from maaskit.client import MaaskitClient, ModelNotFoundError, ServerError, SSEDecoder, sagemaker_stream
from maaskit.client.chat import TokenStream, completion_body

HELLO = [{"role": "user", "content": "hello, how are you today?"}]


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.genmodels import package_tiny

    return package_tiny("llama", tmp_path_factory.mktemp("chat"))


@pytest.fixture(scope="module")
def served(llama: Path) -> Iterator[tuple[str, str]]:
    with served_bundle(llama) as (url, name):
        yield url, name


def test_chat_streams_the_same_text_as_the_whole_answer(served):
    url, model = served
    with MaaskitClient(url) as client:
        whole = client.chat(model, HELLO, max_tokens=12, temperature=0)
        stream = client.chat(model, HELLO, max_tokens=12, temperature=0, stream=True)
        tokens = list(stream)
    assert whole["object"] == "chat.completion"
    assert stream.text == "".join(tokens) == whole["choices"][0]["message"]["content"]
    assert len(stream.chunks) > 2  # a role chunk, deltas, a finish chunk: not one buffered answer
    assert stream.finish_reason == whole["choices"][0]["finish_reason"]
    assert stream.usage is not None and stream.usage["completion_tokens"] == whole["usage"]["completion_tokens"]


def test_complete_streams_a_text_completion(served):
    url, model = served
    with MaaskitClient(url) as client:
        whole = client.complete(model, "the cat sat on", max_tokens=8, temperature=0)
        stream = client.complete(model, "the cat sat on", max_tokens=8, temperature=0, stream=True)
        assert "".join(stream) == whole["choices"][0]["text"]


def test_an_error_before_the_first_token_is_a_typed_error(served):
    url, _ = served
    with MaaskitClient(url, retries=0) as client, pytest.raises(ModelNotFoundError):
        list(client.chat("no-such-model", HELLO, stream=True))


def _sse(chunks: list[dict[str, Any]]) -> bytes:
    return (
        b"".join(b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n" for chunk in chunks)
        + b"data: [DONE]\n\n"
    )


CHUNKS = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {"content": "héllo"}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {"content": " wörld"}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_events_split_anywhere_are_rebuffered(size):
    body = _sse(CHUNKS)
    decoder = SSEDecoder()
    events = [event for start in range(0, len(body), size) for event in decoder.feed(body[start : start + size])]
    assert events[-1] == "[DONE]" and [json.loads(e) for e in events[:-1]] == CHUNKS


class FakeSageMaker:
    """``invoke_endpoint_with_response_stream`` answering PayloadParts cut at awkward places."""

    def __init__(self, body: bytes, cuts: list[int], tail: list[dict[str, Any]] | None = None) -> None:
        self.body, self.cuts, self.tail = body, cuts, tail or []
        self.calls: list[dict[str, Any]] = []

    def invoke_endpoint_with_response_stream(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        edges = [0, *sorted(self.cuts), len(self.body)]
        parts = [{"PayloadPart": {"Bytes": self.body[a:b]}} for a, b in itertools.pairwise(edges)]
        return {"Body": iter(parts + self.tail)}


def test_sagemaker_payload_parts_that_split_events_and_characters_are_rebuffered():
    body = _sse(CHUNKS)
    cut_in_char = body.index("é".encode()) + 1  # inside a UTF-8 character
    runtime = FakeSageMaker(body, [5, cut_in_char, body.index(b"\n\n") + 1, len(body) - 3])
    request = completion_body("m", True, HELLO, True, {"max_tokens": 4})
    stream = sagemaker_stream(runtime, "maaskit-prod-m", request)
    assert list(stream) == ["héllo", " wörld"] and stream.finish_reason == "stop" and stream.usage["total_tokens"] == 5
    call = runtime.calls[0]
    assert call["EndpointName"] == "maaskit-prod-m" and call["Accept"] == "text/event-stream"
    assert json.loads(call["Body"])["stream"] is True


def test_a_mid_stream_failure_raises_after_the_tokens_before_it():
    failing = _sse(CHUNKS[:2])[: -len(b"data: [DONE]\n\n")] + b'data: {"error": {"message": "model fell over"}}\n\n'
    stream = TokenStream(iter(SSEDecoder().feed(failing)))
    received = []
    with pytest.raises(ServerError, match="model fell over"):
        for token in stream:
            received.append(token)
    assert received == ["héllo"]
    unfinished = _sse(CHUNKS[:2])[: -len(b"data: [DONE]\n\n")]
    runtime = FakeSageMaker(unfinished, [], tail=[{"ModelStreamError": {"Message": "out of memory"}}])
    with pytest.raises(ServerError, match="out of memory"):
        list(sagemaker_stream(runtime, "e", {}))


def test_maaskit_chat_streams_a_bundle_and_a_url(llama, served):
    from maaskit.cli import app

    url, model = served
    with MaaskitClient(url) as client:
        expected = client.chat(model, [{"role": "user", "content": "hi"}], max_tokens=6, temperature=0)
    text = expected["choices"][0]["message"]["content"]
    runner = CliRunner()
    by_url = runner.invoke(
        app, ["chat", url, "--model", model, "--prompt", "hi", "--max-tokens", "6", "--temperature", "0"]
    )
    assert by_url.exit_code == 0, by_url.output
    assert by_url.output == text + "\n"
    by_bundle = runner.invoke(app, ["chat", str(llama), "--max-tokens", "6", "--temperature", "0"], input="hi\n")
    assert by_bundle.exit_code == 0, by_bundle.output
    assert by_bundle.output == text + "\n"


def test_maaskit_chat_needs_a_model_with_a_url():
    from maaskit.cli import app

    result = CliRunner().invoke(app, ["chat", "http://127.0.0.1:9", "--prompt", "hi"])
    assert result.exit_code == 2 and "--model is required" in result.output
