"""The page of an audio classifier in a real browser (pick a file, see its labels) and its snippets run."""

from __future__ import annotations

import base64
import json
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.settings import Settings
from tests.handlers.conftest import LiveServer
from tests.handlers.page.browser import chromium_page
from tests.handlers.page.test_snippets import page_snippets, run_snippet

MODEL = "tiny-audio-labels"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A tiny wav2vec2 audio classifier (three labels), packaged through package() and served on loopback."""
    from model_packager import package
    from tests.speechmodels import save_audio_classifier

    work = tmp_path_factory.mktemp("page-audio-labels")
    bundle = package(save_audio_classifier(work / "folder"), name=MODEL, version="1.0.0", out=work / "bundles")
    settings = Settings.load(environ={}, access_log=False, metrics="none")
    with LiveServer(create_app(ModelRepository.load(settings, [bundle.directory]), settings)) as live:
        yield live


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.speechmodels import encode, speech

    path = tmp_path_factory.mktemp("page-audio-labels-file") / "audio.wav"
    path.write_bytes(encode(speech(2.0), 16000, "WAV"))
    return path


@pytest.fixture(scope="module")
def served(server: LiveServer, recording: Path) -> list[dict[str, Any]]:
    """What the API answers for the recording: the labels best first."""
    body = {"inputs": {"b64": base64.b64encode(recording.read_bytes()).decode()}, "parameters": {"top_k": 5}}
    answer = httpx.post(f"{server.url}/models/{MODEL}/predict", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    predictions: list[dict[str, Any]] = answer.json()["predictions"]
    assert [p["label"] for p in predictions] and len(predictions) == 3
    return predictions


def test_the_page_offers_an_upload_and_the_calls_not_the_sample_tensors(server: LiveServer) -> None:
    page = httpx.get(f"{server.url}/models/{MODEL}", headers={"Accept": "text/html"}, timeout=30).text
    assert '<label for="audio-label-file">' in page and 'accept="audio/*"' in page
    assert 'id="try-body"' not in page  # no waveform floats to edit
    assert set(page_snippets(server.url, MODEL, max_bytes=200_000)) == {"curl", "python"}


def test_an_uploaded_wav_shows_the_labels_the_api_answers(
    server: LiveServer, recording: Path, served: list[dict[str, Any]], tmp_path: Path
) -> None:
    with chromium_page(tmp_path / "profile") as page:
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(f"{server.url}/models/{MODEL}")
        page.set_input_files("#audio-label-file", str(recording))
        page.click("#audio-label-send")
        expect(page.locator("#audio-label-status")).to_have_text(re.compile("^HTTP"), timeout=60_000)
        assert page.inner_text("#audio-label-status") == "HTTP 200", page.inner_text("#audio-label-error")
        rows = page.locator("#audio-label-scores tbody tr")
        expect(rows).to_have_count(len(served))
        shown = [row.locator("td").all_text_contents() for row in rows.all()]
        assert [label for label, _ in shown] == [p["label"] for p in served]
        assert [float(score) for _, score in shown] == pytest.approx([p["score"] for p in served], abs=6e-5)
        assert errors == [], errors


def test_a_file_that_is_not_audio_shows_the_servers_error(server: LiveServer, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.wav"
    bogus.write_bytes(b"this is not a recording")
    with chromium_page(tmp_path / "profile") as page:
        page.goto(f"{server.url}/models/{MODEL}")
        page.set_input_files("#audio-label-file", str(bogus))
        page.click("#audio-label-send")
        expect(page.locator("#audio-label-error")).to_be_visible(timeout=60_000)
        assert page.inner_text("#audio-label-error").startswith("HTTP 400: ")
        assert page.is_hidden("#audio-label-scores")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_snippet_classifies_the_file(server: LiveServer, recording: Path, served: list[dict[str, Any]]) -> None:
    code = page_snippets(server.url, MODEL, max_bytes=200_000)["curl"]
    answer = json.loads(run_snippet(["bash", "-c", code], cwd=recording.parent))
    assert answer["predictions"] == served


def test_python_snippet_classifies_the_file(server: LiveServer, recording: Path, served: list[dict[str, Any]]) -> None:
    pytest.importorskip("requests")
    code = page_snippets(server.url, MODEL)["python"]
    printed = run_snippet([sys.executable, "-"], cwd=recording.parent, code=code).splitlines()
    assert [line.split(maxsplit=1)[1] for line in printed] == [p["label"] for p in served]
