"""SageMaker /invocations for text-generation bundles: the Hugging Face LLM container's (TGI's) shape, streamed
with chunked transfer encoding, and OpenAI chat (messages) bodies."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest

from tests.handlers.conftest import LiveServer
from tests.handlers.protocols.generate.conftest import held_worker, wait_for_cancel

QWEN = {"X-Maaskit-Model": "tiny-qwen2"}
GREEDY = {"max_new_tokens": 8, "do_sample": False}


def _invoke(server: LiveServer, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(server.url + "/invocations", json=body, headers={**QWEN, **(headers or {})}, timeout=60)


def _events(text: str) -> list[dict[str, Any]]:
    assert text.endswith("\n\n"), text[-80:]
    return [json.loads(block.removeprefix("data: ")) for block in text.strip("\n").split("\n\n")]


def _completion(server: LiveServer, prompt: str, max_tokens: int) -> str:
    ask = {"model": "tiny-qwen2", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}
    answer = httpx.post(server.url + "/v1/completions", json=ask, timeout=60)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["choices"][0]["text"])


def test_inputs_answer_generated_text_like_the_openai_route(mixed_live: LiveServer) -> None:
    answer = _invoke(mixed_live, {"inputs": "the cat sat", "parameters": GREEDY})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert isinstance(body, list) and list(body[0]) == ["generated_text"]
    assert body[0]["generated_text"] == _completion(mixed_live, "the cat sat", 8)


def test_return_full_text_and_details(mixed_live: LiveServer) -> None:
    parameters = {**GREEDY, "return_full_text": True, "details": True}
    body = _invoke(mixed_live, {"inputs": "the cat sat", "parameters": parameters}).json()[0]
    assert body["generated_text"] == "the cat sat" + _completion(mixed_live, "the cat sat", 8)
    details = body["details"]
    assert details["finish_reason"] in {"length", "eos_token"}
    assert details["generated_tokens"] == len(details["tokens"]) <= 8
    assert {"id", "text", "logprob", "special"} <= set(details["tokens"][0])


def test_huggingface_hub_default_parameters_are_accepted(mixed_live: LiveServer) -> None:
    """What huggingface_hub's InferenceClient.text_generation sends when the caller sets only max_new_tokens."""
    parameters: dict[str, Any] = {
        "best_of": None,
        "decoder_input_details": False,
        "details": True,
        "do_sample": False,
        "frequency_penalty": None,
        "grammar": None,
        "max_new_tokens": 4,
        "repetition_penalty": None,
        "return_full_text": False,
        "seed": None,
        "stop": [],
        "temperature": None,
        "top_k": None,
        "top_n_tokens": None,
        "top_p": None,
        "truncate": None,
        "typical_p": None,
        "watermark": False,
    }
    answer = _invoke(mixed_live, {"inputs": "hello", "parameters": parameters})
    assert answer.status_code == 200, answer.text
    assert answer.json()[0]["generated_text"] == _completion(mixed_live, "hello", 4)


def test_seeded_sampling_repeats(mixed_live: LiveServer) -> None:
    body = {"inputs": "once upon a time", "parameters": {"max_new_tokens": 12, "do_sample": True, "seed": 7}}
    first, second = (_invoke(mixed_live, body).json()[0]["generated_text"] for _ in range(2))
    assert first == second


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({"temperature": 5}, "parameters.temperature"),
        ({"max_new_tokens": 0}, "parameters.max_new_tokens"),
        ({"top_p": 0}, "parameters.top_p"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "parameters.stop"),
        ({"do_sample": "yes"}, "parameters.do_sample"),
        ({"truncate": -1}, "parameters.truncate"),
        ({"max_tokens": 5}, "parameters.max_tokens"),
        ({"best_of": 2}, "parameters.best_of"),
    ],
)
def test_bad_parameters_are_400_naming_them(mixed_live: LiveServer, parameters: dict[str, Any], named: str) -> None:
    answer = _invoke(mixed_live, {"inputs": "hello", "parameters": parameters})
    assert answer.status_code == 400, answer.text
    assert list(answer.json()) == ["error"] and named in answer.json()["error"]


@pytest.mark.parametrize("body", [{"inputs": ""}, {"inputs": ["a", "b"]}, {"parameters": {}}, ["hello"]])
def test_bad_bodies_are_400(mixed_live: LiveServer, body: object) -> None:
    answer = _invoke(mixed_live, body)
    assert answer.status_code == 400, answer.text
    assert "inputs" in answer.json()["error"] or "JSON object" in answer.json()["error"]


def test_stream_is_tgi_events_over_chunked_encoding(mixed_live: LiveServer) -> None:
    body = {"inputs": "the cat sat", "parameters": {**GREEDY, "details": True}, "stream": True}
    with socket.create_connection(("127.0.0.1", mixed_live.port), timeout=30) as raw:  # the bytes on the wire
        payload = json.dumps(body).encode()
        raw.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"X-Maaskit-Model: tiny-qwen2\r\nContent-Length: " + str(len(payload)).encode() + b"\r\n\r\n"
                    + payload)  # fmt: skip
        received = b""
        while not received.endswith(b"0\r\n\r\n"):
            chunk = raw.recv(65536)
            assert chunk, received[-200:]
            received += chunk
    head = received.split(b"\r\n\r\n", 1)[0].decode().lower()
    assert head.startswith("http/1.1 200") and "transfer-encoding: chunked" in head and "content-length" not in head
    assert "content-type: text/event-stream" in head
    answer = _invoke(mixed_live, body)
    events = _events(answer.text)
    *tokens, last = events
    assert tokens and [event["index"] for event in events] == list(range(1, len(events) + 1))
    assert all(event["generated_text"] is None and event["details"] is None for event in tokens)
    assert all(set(event["token"]) == {"id", "text", "logprob", "special"} for event in events)
    assert last["generated_text"] == "".join(event["token"]["text"] for event in tokens)
    assert last["generated_text"] == _completion(mixed_live, "the cat sat", 8)
    assert last["details"]["finish_reason"] in {"length", "eos_token"} and last["details"]["generated_tokens"] <= 8


def test_accept_event_stream_streams_and_details_default_to_null(mixed_live: LiveServer) -> None:
    answer = _invoke(mixed_live, {"inputs": "hello", "parameters": GREEDY}, {"Accept": "text/event-stream"})
    assert answer.headers["content-type"].startswith("text/event-stream")
    last = _events(answer.text)[-1]
    assert last["details"] is None and isinstance(last["generated_text"], str)


def test_stream_arrives_as_it_is_generated(mixed_live: LiveServer, slow_or_broken) -> None:
    slow_or_broken(delay=0.02)  # 20 ms a token: 40 tokens take 0.8 s or more
    body = {"inputs": "hello", "parameters": {"max_new_tokens": 40, "do_sample": False, "stop": ["zzzz"]},
            "stream": True}  # fmt: skip
    started = time.monotonic()
    arrivals = []
    with httpx.stream("POST", mixed_live.url + "/invocations", json=body, headers=QWEN, timeout=60) as answer:
        for line in answer.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.monotonic() - started)
    assert len(arrivals) > 5
    assert arrivals[0] < arrivals[-1] / 2, arrivals  # the first token long before the last


def test_disconnect_stops_the_generation(mixed_live: LiveServer, slow_or_broken, qwen_engine) -> None:
    slow_or_broken(delay=0.02)
    body = {"inputs": "hello", "parameters": {"max_new_tokens": 200, "do_sample": False}, "stream": True}
    with httpx.stream("POST", mixed_live.url + "/invocations", json=body, headers=QWEN, timeout=60) as answer:
        assert next(answer.iter_lines()).startswith("data: ")
        closed = time.monotonic()
    assert wait_for_cancel(qwen_engine, closed) < 0.5
    assert qwen_engine.finished[-1].completion_tokens < 50


def test_failure_after_the_first_byte_is_an_error_event(mixed_live: LiveServer, slow_or_broken) -> None:
    slow_or_broken(fail_at=3)
    answer = _invoke(mixed_live, {"inputs": "hello", "parameters": GREEDY, "stream": True})
    assert answer.status_code == 200
    events = _events(answer.text)
    assert events[0]["token"]["text"] is not None
    assert events[-1]["error_type"] == "generation" and "decoder broke" in events[-1]["error"]


def test_full_queue_is_429_with_retry_after(mixed_live: LiveServer, qwen_engine) -> None:
    answers: list[httpx.Response] = []
    with held_worker(qwen_engine):
        waiting = [threading.Thread(target=lambda: answers.append(_invoke(mixed_live, {"inputs": "hi",
                   "parameters": GREEDY}))) for _ in range(2)]  # fmt: skip
        for thread in waiting:
            thread.start()
        deadline = time.monotonic() + 20
        while qwen_engine.waiting < 2:
            assert time.monotonic() < deadline, qwen_engine.waiting
            time.sleep(0.01)
        refused = _invoke(mixed_live, {"inputs": "hi", "parameters": GREEDY, "stream": True})
    for thread in waiting:
        thread.join(30)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1 and "queue is full" in refused.json()["error"]
    assert [answer.status_code for answer in answers] == [200, 200]


def test_messages_bodies_are_openai_chat(mixed_live: LiveServer) -> None:
    chat = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 6, "temperature": 0}
    whole = _invoke(mixed_live, chat).json()
    assert whole["object"] == "chat.completion" and whole["model"] == "tiny-qwen2"
    reference = httpx.post(mixed_live.url + "/v1/chat/completions", json={**chat, "model": "tiny-qwen2"}, timeout=60)
    assert whole["choices"][0]["message"]["content"] == reference.json()["choices"][0]["message"]["content"]
    streamed = _invoke(mixed_live, {**chat, "stream": True})
    assert streamed.headers["content-type"].startswith("text/event-stream")
    blocks = streamed.text.strip("\n").split("\n\n")
    assert blocks[-1] == "data: [DONE]"
    chunks = [json.loads(block.removeprefix("data: ")) for block in blocks[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks)
    assert text == whole["choices"][0]["message"]["content"]


def test_bad_messages_are_400_in_the_sagemaker_shape(mixed_live: LiveServer) -> None:
    answer = _invoke(mixed_live, {"messages": [{"role": "tool", "content": "x"}]})
    assert answer.status_code == 400 and "messages[0].role" in answer.json()["error"]
    answer = _invoke(mixed_live, {"messages": [{"role": "user", "content": "x"}], "n": 2})
    assert answer.status_code == 400 and "n > 1" in answer.json()["error"]


def test_other_models_keep_their_invocations(mixed_live: LiveServer) -> None:
    answer = httpx.post(mixed_live.url + "/invocations", json={"instances": [[5.1, 3.5, 1.4, 0.2]]},
                        headers={"X-Maaskit-Model": "iris"}, timeout=30)  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == "iris"


def test_not_acceptable_accept_is_406(mixed_live: LiveServer) -> None:
    answer = _invoke(mixed_live, {"inputs": "hi"}, {"Accept": "text/csv"})
    assert answer.status_code == 406 and "text/event-stream" in answer.json()["error"]


def test_huggingface_hub_client_reads_the_answers(mixed_live: LiveServer) -> None:
    """huggingface_hub's InferenceClient, pointed at /invocations as at a TGI server, whole and streamed."""
    from huggingface_hub import InferenceClient

    client = InferenceClient(model=mixed_live.url + "/invocations", headers=QWEN, timeout=60)
    whole = client.text_generation("the cat sat", max_new_tokens=8, do_sample=False, details=True)
    expected = _completion(mixed_live, "the cat sat", 8)
    assert whole.generated_text == expected
    assert whole.details is not None and whole.details.generated_tokens <= 8
    pieces = list(client.text_generation("the cat sat", max_new_tokens=8, do_sample=False, stream=True))
    assert "".join(pieces) == expected
    outputs = list(client.text_generation("the cat sat", max_new_tokens=8, stream=True, details=True))
    last = outputs[-1]
    assert last.generated_text == expected
    assert last.details is not None and last.details.finish_reason in {"length", "eos_token"}


def test_stream_is_not_held_by_the_containers_limits(gen_runtimes, slow_or_broken) -> None:
    """The SageMaker container caps answers (6 MB) and time to first byte (60 s): a stream is neither held
    back to be measured nor cut when its generation outlasts the time limit."""
    from bundle.limits import SAGEMAKER_PAYLOAD_BYTES
    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.settings import Settings

    slow_or_broken(delay=0.02)  # 60 tokens: 1.2 s or more, past the 0.5 s limit
    settings = Settings.load(environ={}, access_log=False, metrics="none", max_response_bytes=SAGEMAKER_PAYLOAD_BYTES,
                             request_timeout_s=0.5)  # fmt: skip
    body = {"inputs": "hello", "parameters": {"max_new_tokens": 60, "do_sample": False, "stop": ["zzzz"]},
            "stream": True}  # fmt: skip
    with LiveServer(create_app(ModelRepository(gen_runtimes), settings)) as server:
        started = time.monotonic()
        arrivals, events = [], []
        with httpx.stream("POST", server.url + "/invocations", json=body, headers=QWEN, timeout=60) as answer:
            for line in answer.iter_lines():
                if line.startswith("data: "):
                    arrivals.append(time.monotonic() - started)
                    events.append(json.loads(line.removeprefix("data: ")))
    assert arrivals[0] < arrivals[-1] / 2, arrivals
    assert arrivals[-1] > 0.5 and isinstance(events[-1]["generated_text"], str)  # ran past the limit, to its end
