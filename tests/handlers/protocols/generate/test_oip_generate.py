"""The Open Inference Protocol generate extension: /generate and /generate_stream (Triton's and KServe's shapes)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from tests.handlers.conftest import LiveServer
from tests.handlers.protocols.generate.conftest import held_worker, wait_for_cancel

GENERATE = "/v2/models/tiny-qwen2/generate"
ASK = {"text_input": "the cat sat", "parameters": {"max_tokens": 8, "temperature": 0}}


def _post(server: LiveServer, path: str, body: object) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=60)


def _events(text: str) -> list[dict[str, Any]]:
    assert text.endswith("\n\n"), text[-80:]
    return [json.loads(block.removeprefix("data: ")) for block in text.strip("\n").split("\n\n")]


def _completion(server: LiveServer, prompt: str, max_tokens: int) -> str:
    ask = {"model": "tiny-qwen2", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}
    return str(_post(server, "/v1/completions", ask).json()["choices"][0]["text"])


def test_generate_answers_text_output(mixed_live: LiveServer) -> None:
    answer = _post(mixed_live, GENERATE, {**ASK, "id": "42"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_name"] == "tiny-qwen2" and body["model_version"] == "1.0.0" and body["id"] == "42"
    assert body["text_output"] == _completion(mixed_live, "the cat sat", 8)
    assert body["details"]["finish_reason"] in {"length", "eos_token"}
    assert 0 < body["details"]["completion_tokens"] <= 8 and body["details"]["prompt_tokens"] > 0


def test_versioned_path_and_parameters_beside_text_input(mixed_live: LiveServer) -> None:
    """Triton's TensorRT-LLM examples put the parameters beside text_input, with empty stop/bad words."""
    body = {"text_input": "the cat sat", "max_tokens": 8, "temperature": 0, "stop_words": "", "bad_words": ""}
    answer = _post(mixed_live, "/v2/models/tiny-qwen2/versions/1.0.0/generate", body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["text_output"] == _post(mixed_live, GENERATE, ASK).json()["text_output"]


def test_generate_stream_sends_deltas_then_details(mixed_live: LiveServer) -> None:
    answer = _post(mixed_live, "/v2/models/tiny-qwen2/generate_stream", ASK)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    *deltas, last = _events(answer.text)
    assert deltas and all(set(event) == {"model_name", "model_version", "text_output"} for event in deltas)
    assert last["text_output"] == "" and last["details"]["finish_reason"] in {"length", "eos_token"}
    assert "".join(event["text_output"] for event in deltas) == _post(mixed_live, GENERATE, ASK).json()["text_output"]


def test_stream_arrives_as_it_is_generated(mixed_live: LiveServer, slow_or_broken) -> None:
    slow_or_broken(delay=0.02)
    body = {"text_input": "hello", "parameters": {"max_tokens": 40, "temperature": 0, "stop": "zzzz"}}
    started = time.monotonic()
    arrivals = []
    with httpx.stream("POST", mixed_live.url + "/v2/models/tiny-qwen2/generate_stream", json=body, timeout=60) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.monotonic() - started)
    assert len(arrivals) > 5
    assert arrivals[0] < arrivals[-1] / 2, arrivals


def test_disconnect_stops_the_generation(mixed_live: LiveServer, slow_or_broken, qwen_engine) -> None:
    slow_or_broken(delay=0.02)
    body = {"text_input": "hello", "parameters": {"max_tokens": 200, "temperature": 0}}
    with httpx.stream("POST", mixed_live.url + "/v2/models/tiny-qwen2/generate_stream", json=body, timeout=60) as r:
        assert next(r.iter_lines()).startswith("data: ")
        closed = time.monotonic()
    assert wait_for_cancel(qwen_engine, closed) < 0.5


def test_failure_after_the_first_byte_is_an_error_event(mixed_live: LiveServer, slow_or_broken) -> None:
    slow_or_broken(fail_at=3)
    answer = _post(mixed_live, "/v2/models/tiny-qwen2/generate_stream", ASK)
    assert answer.status_code == 200
    events = _events(answer.text)
    assert "text_output" in events[0]
    assert list(events[-1]) == ["error"] and "decoder broke" in events[-1]["error"]


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({"temperature": -1}, "temperature"),
        ({"max_tokens": "many"}, "max_tokens"),
        ({"top_k": 1.5}, "top_k"),
        ({"beam_width": 4}, "beam_width"),
        ({"details": "yes"}, "details"),
    ],
)
def test_bad_parameters_are_400_naming_them(mixed_live: LiveServer, parameters: dict[str, Any], named: str) -> None:
    for path in (GENERATE, GENERATE + "_stream"):
        answer = _post(mixed_live, path, {"text_input": "hello", "parameters": parameters})
        assert answer.status_code == 400, answer.text
        assert list(answer.json()) == ["error"] and named in answer.json()["error"]


@pytest.mark.parametrize(
    "body", [{"text_input": ""}, {"inputs": "hello"}, ["hello"], {"text_input": "x", "parameters": 3}]
)
def test_bad_bodies_are_400(mixed_live: LiveServer, body: object) -> None:
    answer = _post(mixed_live, GENERATE, body)
    assert answer.status_code == 400, answer.text
    assert set(answer.json()) == {"error"}


def test_a_model_that_does_not_generate_text_is_400_naming_infer(mixed_live: LiveServer) -> None:
    answer = _post(mixed_live, "/v2/models/iris/generate", ASK)
    assert answer.status_code == 400
    assert "does not generate text" in answer.json()["error"] and "/v2/models/iris/infer" in answer.json()["error"]
    assert _post(mixed_live, "/v2/models/nope/generate_stream", ASK).status_code == 404


def test_full_queue_is_429_with_retry_after(mixed_live: LiveServer, qwen_engine) -> None:
    answers: list[httpx.Response] = []
    with held_worker(qwen_engine):
        waiting = [threading.Thread(target=lambda: answers.append(_post(mixed_live, GENERATE, ASK))) for _ in range(2)]
        for thread in waiting:
            thread.start()
        deadline = time.monotonic() + 20
        while qwen_engine.waiting < 2:
            assert time.monotonic() < deadline, qwen_engine.waiting
            time.sleep(0.01)
        refused = _post(mixed_live, GENERATE + "_stream", ASK)
    for thread in waiting:
        thread.join(30)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert set(refused.json()) == {"error"}
    assert [answer.status_code for answer in answers] == [200, 200]


def test_openapi_lists_the_generate_routes(mixed_live: LiveServer) -> None:
    paths = httpx.get(mixed_live.url + "/openapi.json", timeout=60).json()["paths"]
    for path in ("/v2/models/{name}/generate", "/v2/models/{name}/versions/{version}/generate_stream"):
        assert "post" in paths[path]
