"""The streaming runtime loop against a local Runtime API that speaks (and checks) AWS's documented contract.

Function URL and API Gateway REST events; an answer whose first chunk leaves before the app has
finished; an error before the first byte (the invocation's error) and after it (the error trailers);
a client that goes away (the app's generation stops); an init failure; a plain maaskit route answered
through the same loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from mangum import Mangum
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from handlers.lambda_stream.bridge import split_prelude
from handlers.lambda_stream.loop import run
from handlers.lambda_stream.runtime_api import RuntimeApiClient
from tests.handlers.events import load_event
from tests.handlers.lambda_stream.runtime_api_server import RuntimeApi

TOKENS = 6
STEP_S = 0.05


class Generation:
    """Records how far the test app's token generator got (to prove a gone client stops it)."""

    def __init__(self) -> None:
        self.produced = 0
        self.stopped = threading.Event()


def _app(generation: Generation) -> Starlette:
    async def tokens(request: Request) -> Response:
        body = await request.json()

        async def events() -> AsyncIterator[bytes]:
            try:
                for index in range(body.get("max_tokens", TOKENS)):
                    await asyncio.sleep(STEP_S)
                    generation.produced += 1
                    yield f"data: {json.dumps({'index': index, 'path': request.url.path})}\n\n".encode()
                yield b"data: [DONE]\n\n"
            finally:
                generation.stopped.set()

        return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-cache"})

    async def fails_midway(request: Request) -> Response:
        async def events() -> AsyncIterator[bytes]:
            yield b"data: first\n\n"
            raise RuntimeError("the model fell over after the first token")

        return StreamingResponse(events(), media_type="text/event-stream")

    async def fails_early(request: Request) -> Response:
        raise RuntimeError("broken before answering")

    async def plain(request: Request) -> Response:
        response = JSONResponse({"ok": True, "path": request.url.path}, status_code=201)
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        return response

    return Starlette(
        routes=[
            Route("/v1/chat/completions", tokens, methods=["POST"]),
            Route("/models/tiny-chat/v1/chat/completions", tokens, methods=["POST"]),
            Route("/midway", fails_midway, methods=["POST"]),
            Route("/early", fails_early, methods=["POST"]),
            Route("/plain", plain, methods=["POST"]),
        ]
    )


@pytest.fixture
def generation() -> Generation:
    return Generation()


@pytest.fixture
def runtime_api() -> Iterator[RuntimeApi]:
    api = RuntimeApi().start()
    yield api
    api.stop()


def _serve(api: RuntimeApi, generation: Generation, events: list[dict[str, Any]]) -> list[Any]:
    records = [api.invoke(event) for event in events]
    adapter = Mangum(_app(generation), lifespan="off")
    code = asyncio.run(run(RuntimeApiClient(api.address), lambda: adapter, invocations=len(events)))
    assert code == 0
    for record in records:
        assert record.done.wait(10), "the runtime never finished its answer"
        assert not record.problems, record.problems
    return records


def _with_path(event: dict[str, Any], path: str) -> dict[str, Any]:
    if "rawPath" in event:
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
    else:
        event["path"] = path
        event["resource"] = event["requestContext"]["resourcePath"] = path
        event["pathParameters"] = None
    return event


@pytest.mark.parametrize("source", ["function_url_chat_stream", "apigw_v1_chat_stream"])
def test_tokens_stream_before_the_generation_ends(runtime_api, generation, source):
    """The prelude and the first token reach the Runtime API while later tokens are still being made."""
    (record,) = _serve(runtime_api, generation, [load_event(source)])
    assert record.streamed and record.complete and not record.trailers
    assert record.headers["content-type"] == "application/vnd.awslambda.http-integration-response"
    prelude, body = record.http()
    assert prelude["statusCode"] == 200
    assert prelude["headers"]["content-type"].startswith("text/event-stream")
    assert ("multiValueHeaders" in prelude) == (source == "apigw_v1_chat_stream")
    events = [line for line in body.decode().split("\n\n") if line]
    assert len(events) == 17  # max_tokens 16 in the stored event, then [DONE]
    assert events[-1] == "data: [DONE]"
    expected_path = (
        "/v1/chat/completions" if source.startswith("function_url") else "/models/tiny-chat/v1/chat/completions"
    )
    assert json.loads(events[0].removeprefix("data: "))["path"] == expected_path
    # The first token's chunk arrived about one step after the start, long before the last one.
    arrivals = [at for at, chunk in record.chunks if b"index" in chunk]
    assert arrivals[-1] - arrivals[0] > 10 * STEP_S


def test_error_after_the_first_byte_goes_in_the_trailers(runtime_api, generation):
    event = _with_path(load_event("function_url_chat_stream"), "/midway")
    (record,) = _serve(runtime_api, generation, [event])
    prelude, body = record.http()
    assert prelude["statusCode"] == 200 and body == b"data: first\n\n"
    assert record.trailers["lambda-runtime-function-error-type"] == "RuntimeError"
    assert record.error()["errorMessage"] == "the model fell over after the first token"


def test_an_error_the_app_answers_before_the_first_byte_keeps_its_status(runtime_api, generation):
    """Starlette answers an unhandled error with a whole 500, then re-raises: the answer stands, as when buffered."""
    event = _with_path(load_event("apigw_v1_chat_stream"), "/early")
    (record,) = _serve(runtime_api, generation, [event])
    prelude, body = record.http()
    assert prelude["statusCode"] == 500 and body == b"Internal Server Error"
    assert record.complete and record.error() is None


def test_an_app_that_fails_without_answering_is_the_invocations_error(runtime_api):
    """Nothing was sent yet: the failure goes to /invocation/{id}/error, as the managed runtime reports it."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise LookupError("no route table")

    record = runtime_api.invoke(load_event("function_url_chat_stream"))
    adapter = Mangum(app, lifespan="off")
    asyncio.run(run(RuntimeApiClient(runtime_api.address), lambda: adapter, invocations=1))
    assert record.done.wait(5) and not record.problems
    assert record.kind == "error"
    assert record.headers["lambda-runtime-function-error-type"] == "LookupError"
    assert record.error()["errorMessage"] == "no route table"


def test_an_event_that_is_not_http_is_refused(runtime_api, generation):
    (record,) = _serve(runtime_api, generation, [{"hello": "world"}])
    assert record.kind == "error"
    assert record.error()["errorType"] == "Runtime.UnsupportedEvent"


def test_a_client_that_goes_away_stops_the_generation(generation):
    """Lambda drops the stream when the caller leaves: the app's generator is stopped within a step or two."""
    api = RuntimeApi(drop_after=400).start()
    try:
        event = load_event("function_url_chat_stream")
        event["body"] = json.dumps({"max_tokens": 200})
        record = api.invoke(event)
        adapter = Mangum(_app(generation), lifespan="off")
        started = time.perf_counter()
        asyncio.run(run(RuntimeApiClient(api.address), lambda: adapter, invocations=1))
        elapsed = time.perf_counter() - started
    finally:
        api.stop()
    assert record.dropped
    assert generation.stopped.is_set()
    assert generation.produced < 20, f"{generation.produced} of 200 tokens were made after the client left"
    assert elapsed < 200 * STEP_S / 4


def test_several_invocations_and_headers_in_the_prelude(runtime_api, generation):
    """One loop answers events in turn; cookies and status reach the prelude; the next event is taken after."""
    plain = _with_path(load_event("function_url_chat_stream"), "/plain")
    rest = _with_path(load_event("apigw_v1_chat_stream"), "/plain")
    first, second = _serve(runtime_api, generation, [plain, rest])
    prelude, body = first.http()
    assert prelude["statusCode"] == 201 and json.loads(body) == {"ok": True, "path": "/plain"}
    assert sorted(cookie.split(";")[0] for cookie in prelude["cookies"]) == ["a=1", "b=2"]
    rest_prelude, _ = second.http()
    assert len(rest_prelude["multiValueHeaders"]["set-cookie"]) == 2


def test_an_init_failure_is_reported_and_the_loop_exits(runtime_api):
    def broken() -> Any:
        raise FileNotFoundError("no bundle under /var/task/bundles")

    code = asyncio.run(run(RuntimeApiClient(runtime_api.address), broken))
    assert code == 1
    assert runtime_api.init_error_seen.wait(5)
    headers, document = runtime_api.init_errors[0]
    assert headers["lambda-runtime-function-error-type"] == "Runtime.FileNotFoundError"
    assert document["errorMessage"] == "no bundle under /var/task/bundles"


def test_split_prelude_reads_what_invoke_returns():
    payload = b'{"statusCode": 200, "headers": {}, "cookies": []}' + b"\x00" * 8 + b"data: x\n\n"
    prelude, body = split_prelude(payload)
    assert prelude["statusCode"] == 200 and body == b"data: x\n\n"
    with pytest.raises(ValueError, match="no HTTP integration prelude"):
        split_prelude(b"{}")


def test_snapstart_hands_the_warm_process_over_then_reseeds(runtime_api, generation, monkeypatch):
    """With SnapStart the loop calls /restore/next after init, re-seeds, then serves; without, it never does."""
    import random

    import numpy as np

    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    random.seed(7)
    np.random.seed(7)
    before = (random.random(), np.random.random())
    random.seed(7)
    np.random.seed(7)  # the state a snapshot would carry into every restored copy
    (record,) = _serve(runtime_api, generation, [load_event("function_url_chat_stream")])
    assert runtime_api.snapshots == 1 and record.complete
    assert (random.random(), np.random.random()) != before
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    _serve(runtime_api, generation, [load_event("function_url_chat_stream")])
    assert runtime_api.snapshots == 1
