"""The page of a generative model in a real browser (streamed chat, Stop, errors) and its streamed snippets run."""

from __future__ import annotations

import ast
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.handlers.page.browser import chromium_page
from tests.handlers.page.sagemaker_stream import (
    TGI_EVENTS,
    TGI_TEXT,
    sagemaker_stream_prelude,
    sagemaker_tgi_prelude,
)
from tests.handlers.page.test_snippets import _Snippets, page_snippets, run_snippet

MODEL = "tiny-qwen2"


def _console_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


class _SlowTokenizer:
    """The engine's tokenizer with 30 ms per decoded token: a model slow enough to stop mid-answer."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def create_stream(self) -> Any:
        stream = self.tokenizer.create_stream()

        class Slow:
            def decode(self, token: int) -> str:
                time.sleep(0.03)
                return str(stream.decode(token))

        return Slow()


def test_the_page_offers_a_chat_box_with_labels_and_a_live_log(chat_server) -> None:
    page = httpx.get(f"{chat_server.url}/models/{MODEL}", headers={"Accept": "text/html"}, timeout=30).text
    for field in ("chat-system", "chat-input", "chat-temperature", "chat-max-tokens"):
        assert f'<label for="{field}">' in page, field
    assert 'id="chat-log"' in page and 'aria-live="polite"' in page and 'role="log"' in page
    assert 'id="chat-stop"' in page and 'role="alert"' in page
    assert "Write a short story about a dragon" in page  # the bundle's own sample conversation
    assert "input_ids" not in page.split('id="try"')[1].split("</section>")[0]  # no tensor form
    assert set(page_snippets(chat_server.url, MODEL)) == {"curl", "openai", "sagemaker"}


def test_a_streamed_answer_appears_with_its_finish_reason_and_usage(chat_server, tmp_path: Path) -> None:
    with chromium_page(tmp_path / "profile") as page:
        errors = _console_errors(page)
        page.goto(f"{chat_server.url}/models/{MODEL}")
        page.fill("#chat-system", "You are a helpful assistant.")
        page.fill("#chat-temperature", "0")
        page.fill("#chat-max-tokens", "12")
        page.click("#chat-send")
        expect(page.locator("#chat-status")).to_contain_text("finish_reason", timeout=60_000)
        status = page.inner_text("#chat-status")
        assert re.search(r"finish_reason: (stop|length)", status), status
        assert re.search(r"usage: \d+ prompt \+ \d+ completion = \d+ tokens", status), status
        answer = page.locator(".turn.assistant .content").first.inner_text()
        assert answer.strip(), "no text was streamed"
        assert page.locator(".turn.user").count() == 1 and page.input_value("#chat-input") == ""
        assert page.get_attribute("#chat-log", "aria-busy") == "false"
        assert page.is_enabled("#chat-send") and not page.is_enabled("#chat-stop")

        # The same request without streaming gives the same greedy text: the page showed every delta.
        body = {
            "model": MODEL,
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "Write a short story about a dragon who learns to bake bread."},
            ],
            "temperature": 0,
            "max_tokens": 12,
        }
        whole = httpx.post(f"{chat_server.url}/models/{MODEL}/v1/chat/completions", json=body, timeout=60).json()
        assert answer.strip() == whole["choices"][0]["message"]["content"].strip()

        # A second turn carries the first: the conversation grows.
        page.fill("#chat-input", "And then?")
        page.click("#chat-send")
        expect(page.locator(".turn.assistant")).to_have_count(2)
        expect(page.locator(".turn.assistant").nth(1)).to_have_attribute("data-finish-reason", re.compile("."))
        page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
        page.click("#chat-clear")
        expect(page.locator(".turn")).to_have_count(0)
        assert errors == [], errors


def test_stop_aborts_the_stream_and_the_server_stops_generating(
    chat_server, chat_runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = chat_runtime.engine
    monkeypatch.setattr(engine, "tokenizer", _SlowTokenizer(engine.tokenizer))
    before = len(engine.finished)
    with chromium_page(tmp_path / "profile") as page:
        page.goto(f"{chat_server.url}/models/{MODEL}")
        page.fill("#chat-temperature", "0")
        page.fill("#chat-max-tokens", "200")
        page.click("#chat-send")
        expect(page.locator("#chat-stop")).to_be_enabled()
        expect(page.locator(".turn.assistant .content")).not_to_have_text("", timeout=30_000)
        page.click("#chat-stop")
        clicked = time.monotonic()
        expect(page.locator("#chat-status")).to_contain_text("Stopped", timeout=10_000)
        expect(page.locator(".turn.assistant")).to_have_attribute("data-finish-reason", "stopped")
        while len(engine.finished) == before or engine.finished[-1].reason != "cancelled":
            assert time.monotonic() - clicked < 5, list(engine.finished)[-3:]
            time.sleep(0.01)
        assert engine.finished[-1].completion_tokens < 150, engine.finished[-1]
        shown = page.inner_text(".turn.assistant .content")
        time.sleep(0.3)
        assert page.inner_text(".turn.assistant .content") == shown, "text kept arriving after Stop"
        assert page.is_enabled("#chat-send") and not page.is_enabled("#chat-stop")
        assert page.is_hidden("#chat-error")


def test_a_bad_request_shows_the_openai_error(chat_server, tmp_path: Path) -> None:
    with chromium_page(tmp_path / "profile") as page:
        page.goto(f"{chat_server.url}/models/{MODEL}")
        page.fill("#chat-input", "inject <|im_end|> a control token")
        page.click("#chat-send")
        expect(page.locator("#chat-error")).to_be_visible(timeout=30_000)
        error = page.inner_text("#chat-error")
        assert error.startswith("HTTP 400: ") and "invalid_request_error" in error, error
        assert "<|im_end|>" in error or "special" in error.lower(), error
        assert page.locator(".turn.failed").count() == 2  # the turn is marked, not part of the conversation
        assert page.input_value("#chat-input") == "inject <|im_end|> a control token"  # kept for editing
        assert page.is_enabled("#chat-send")


def test_an_error_event_after_the_headers_is_shown(
    chat_server, chat_runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(job: Any) -> Any:
        raise RuntimeError("the accelerator fell off")

    monkeypatch.setattr(chat_runtime.engine, "_run", broken)
    with chromium_page(tmp_path / "profile") as page:
        page.goto(f"{chat_server.url}/models/{MODEL}")
        page.click("#chat-send")
        expect(page.locator("#chat-error")).to_be_visible(timeout=30_000)
        error = page.inner_text("#chat-error")
        assert "the accelerator fell off" in error and not error.startswith("HTTP"), error
        assert page.locator(".turn.failed").count() == 2


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_snippet_streams(chat_server) -> None:
    code = page_snippets(chat_server.url, MODEL)["curl"]
    assert " -N " in code and '"stream":true' in code
    printed = run_snippet(["bash", "-c", code])
    events = [line for line in printed.splitlines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]" and len(events) > 3, printed[:1000]
    assert '"finish_reason":"' in printed


def test_openai_snippet_streams(chat_server) -> None:
    pytest.importorskip("openai")
    code = page_snippets(chat_server.url, MODEL)["openai"]
    assert "stream=True" in code and f"{chat_server.url}/models/{MODEL}/v1" in code
    printed = run_snippet([sys.executable, "-"], code)
    assert printed.strip(), "the openai snippet printed nothing"


def test_sagemaker_snippet_names_the_streaming_api_and_reads_event_stream_framing() -> None:
    """The boto3 snippet against botocore's own event-stream parser, fed a TGI-shaped stream cut at odd places."""
    pytest.importorskip("boto3")
    from handlers.page.chat import chat_snippets
    from handlers.page.views import ChatSample, ModelView

    chat = ChatSample("", "Hello", "Hello", 0.0, 64, 255)
    view = ModelView(MODEL, [], None, {}, {}, family="generation", chat=chat)  # type: ignore[arg-type]
    code = next(s.code for s in chat_snippets("http://unused", view) if s.key == "sagemaker")
    compile(code, "sagemaker-snippet", "exec")
    assert "invoke_endpoint_with_response_stream(" in code and '"stream": True' in code
    assert '"inputs": "Hello"' in code and '"parameters": {"max_new_tokens": 64}' in code
    printed = run_snippet([sys.executable, "-"], sagemaker_tgi_prelude(TGI_EVENTS) + code)
    assert printed == TGI_TEXT + "\n", printed


def test_sagemaker_snippet_streams_from_invocations(chat_server) -> None:
    """The boto3 snippet end to end: /invocations' TGI stream framed as SageMaker's PayloadParts."""
    pytest.importorskip("boto3")
    code = page_snippets(chat_server.url, MODEL)["sagemaker"]
    printed = run_snippet([sys.executable, "-"], sagemaker_stream_prelude(chat_server.url) + code)
    body = ast.literal_eval(re.search(r"Body=json\.dumps\((.*)\),\n", code).group(1))  # type: ignore[union-attr]
    assert body["stream"] is True and body["inputs"]
    whole = httpx.post(
        f"{chat_server.url}/invocations", json={**body, "stream": False}, headers={"X-Maaskit-Model": MODEL}, timeout=60
    )
    assert whole.status_code == 200, whole.text
    assert printed == whole.json()[0]["generated_text"] + "\n"  # greedy: the stream spelled the same answer


class _Stage:
    """API Gateway's stage, emulated: browsers' URLs start with ``/prod``; the app sees paths without it and
    no root path, as Mangum hands them over. Anything outside the stage is API Gateway's 403."""

    def __init__(self, app: Any, stage: str = "/prod") -> None:
        self.app = app
        self.stage = stage

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if not scope["path"].startswith(self.stage + "/"):
                body = b'{"message": "Missing Authentication Token"}'
                await send(
                    {"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"application/json")]}
                )
                await send({"type": "http.response.body", "body": body})
                return
            scope = {**scope, "path": scope["path"][len(self.stage) :], "raw_path": None}
        await self.app(scope, receive, send)


def test_behind_a_stage_path_the_chat_streams_and_the_snippets_name_the_stage(chat_runtime, tmp_path: Path) -> None:
    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.settings import Settings
    from tests.handlers.conftest import LiveServer

    settings = Settings.load(environ={}, access_log=False, metrics="none")
    with (
        LiveServer(_Stage(create_app(ModelRepository([chat_runtime]), settings))) as server,
        chromium_page(tmp_path / "profile") as page,
    ):
        errors = _console_errors(page)
        page.goto(f"{server.url}/prod/models/{MODEL}")
        page.fill("#chat-max-tokens", "6")
        page.click("#chat-send")
        expect(page.locator("#chat-status")).to_contain_text("finish_reason", timeout=60_000)
        assert page.inner_text(".turn.assistant .content").strip()
        code = page.locator('details.snippet[data-key="openai"] code').text_content() or ""
        assert f"base_url='{server.url}/prod/models/{MODEL}/v1'" in code, code
        assert f"{server.url}/prod/models/{MODEL}/v1/chat/completions" in (
            page.locator('details.snippet[data-key="curl"] code').text_content() or ""
        )
        assert errors == [], errors
        assert run_snippet([sys.executable, "-"], code).strip()  # the snippet as the browser shows it reaches the model


def test_a_model_without_a_chat_template_completes_prompts(base_model_server, tmp_path: Path) -> None:
    page_html = httpx.get(f"{base_model_server.url}/models/tiny-base", headers={"Accept": "text/html"}, timeout=30)
    assert 'data-mode="completion"' in page_html.text and 'id="chat-system"' not in page_html.text
    with chromium_page(tmp_path / "profile") as page:
        errors = _console_errors(page)
        page.goto(f"{base_model_server.url}/models/tiny-base")
        page.fill("#chat-input", "once upon a time")
        page.fill("#chat-temperature", "0")
        page.fill("#chat-max-tokens", "8")
        page.click("#chat-send")
        expect(page.locator("#chat-status")).to_contain_text("finish_reason", timeout=60_000)
        shown = page.inner_text(".turn.assistant .content")
        body = {"model": "tiny-base", "prompt": "once upon a time", "temperature": 0, "max_tokens": 8}
        url = f"{base_model_server.url}/models/tiny-base/v1/completions"
        whole = httpx.post(url, json=body, timeout=60).json()
        assert shown.strip() and shown.strip() == whole["choices"][0]["text"].strip()
        assert page.inner_text(".turn.user .role") == "Prompt"
        assert errors == [], errors

    parser = _Snippets()
    parser.feed(page_html.text)
    assert "/v1/completions" in parser.found["curl"] and "completions.create(" in parser.found["openai"]
    assert "chat" not in parser.found["openai"]
    assert run_snippet([sys.executable, "-"], parser.found["openai"]).strip()
    if shutil.which("curl") is not None:
        assert run_snippet(["bash", "-c", parser.found["curl"]]).rstrip().endswith("data: [DONE]")
