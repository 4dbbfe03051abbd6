"""The page of a speech model in a real browser (upload, record) and its snippets run against the server."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.handlers.page.browser import FAKE_MICROPHONE, chromium_page
from tests.handlers.page.test_snippets import page_snippets, run_snippet

MODEL = "tiny-ctc"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three seconds of synthetic speech-like audio as a 16 kHz WAV (tests/speechmodels.py)."""
    from tests.speechmodels import encode, speech

    path = tmp_path_factory.mktemp("page-audio") / "audio.wav"
    path.write_bytes(encode(speech(3.0), 16000, "WAV"))
    return path


@pytest.fixture(scope="module")
def served(speech_server: Any, recording: Path) -> dict[str, Any]:
    """What the API answers for the recording (verbose_json), to compare the page and the snippets with."""
    answer = httpx.post(
        f"{speech_server.url}/models/{MODEL}/v1/audio/transcriptions",
        files={"file": ("audio.wav", recording.read_bytes(), "audio/wav")},
        data={"model": MODEL, "response_format": "verbose_json"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    assert document["text"], "the tiny model transcribed nothing: the comparison would prove little"
    return document


def test_the_page_offers_an_upload_a_recorder_and_the_calls(speech_server: Any) -> None:
    page = httpx.get(f"{speech_server.url}/models/{MODEL}", headers={"Accept": "text/html"}, timeout=30).text
    assert '<label for="speech-file">' in page and 'accept="audio/*"' in page
    assert 'id="speech-output" aria-live="polite"' in page and 'id="speech-recorder" hidden' in page
    assert set(page_snippets(speech_server.url, MODEL, max_bytes=200_000)) == {"curl", "openai"}


def test_an_uploaded_wav_is_transcribed_as_the_api_answers(
    speech_server: Any, recording: Path, served: dict[str, Any], tmp_path: Path
) -> None:
    with chromium_page(tmp_path / "profile") as page:
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(f"{speech_server.url}/models/{MODEL}")
        page.set_input_files("#speech-file", str(recording))
        page.click("#speech-send")
        expect(page.locator("#speech-status")).to_have_text(re.compile("^HTTP"), timeout=60_000)
        assert page.inner_text("#speech-status").startswith("HTTP 200"), page.inner_text("#speech-error")
        assert page.text_content("#speech-text") == served["text"]
        rows = page.locator("#speech-segments tbody tr")
        expect(rows).to_have_count(len(served["segments"]))
        first = rows.first.locator("td").all_text_contents()
        assert first[2] == served["segments"][0]["text"] and float(first[0]) == pytest.approx(
            served["segments"][0]["start"], abs=0.006
        )
        page.screenshot(path=str(tmp_path / "speech.png"), full_page=True)
        assert errors == [], errors


def test_a_file_that_is_not_audio_shows_the_servers_error(speech_server: Any, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.wav"
    bogus.write_bytes(b"this is not a recording")
    with chromium_page(tmp_path / "profile") as page:
        page.goto(f"{speech_server.url}/models/{MODEL}")
        page.set_input_files("#speech-file", str(bogus))
        page.click("#speech-send")
        expect(page.locator("#speech-error")).to_be_visible(timeout=60_000)
        assert page.inner_text("#speech-error").startswith("HTTP 400: "), page.inner_text("#speech-error")
        assert page.text_content("#speech-text") == ""


def test_the_recorder_sends_a_wav_from_the_microphone(speech_server: Any, tmp_path: Path) -> None:
    """Chromium's fake microphone (a beep) recorded as WebM, turned into WAV in the page, transcribed."""
    with chromium_page(tmp_path / "profile", FAKE_MICROPHONE) as page:
        page.goto(f"{speech_server.url}/models/{MODEL}")
        expect(page.locator("#speech-recorder")).to_be_visible()
        assert page.is_hidden("#speech-no-recorder")
        page.click("#speech-record")
        expect(page.locator("#speech-record-state")).to_have_text("recording…")
        page.wait_for_timeout(1500)
        page.click("#speech-record-stop")
        expect(page.locator("#speech-status")).to_have_text(re.compile("^HTTP"), timeout=60_000)
        status = page.inner_text("#speech-status")
        assert status.startswith("HTTP 200"), page.inner_text("#speech-error")
        seconds = float(re.search(r"([\d.]+) s of audio", status).group(1))  # type: ignore[union-attr]
        assert 1.0 <= seconds <= 5.0, status


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_snippet_transcribes_the_file(speech_server: Any, recording: Path, served: dict[str, Any]) -> None:
    code = page_snippets(speech_server.url, MODEL, max_bytes=200_000)["curl"]
    assert "-F file=@audio.wav" in code and "response_format=verbose_json" in code
    answer = json.loads(run_snippet(["bash", "-c", code], cwd=recording.parent))
    assert answer["text"] == served["text"] and answer["segments"] == served["segments"]


def test_openai_snippet_transcribes_the_file(speech_server: Any, recording: Path, served: dict[str, Any]) -> None:
    pytest.importorskip("openai")
    code = page_snippets(speech_server.url, MODEL, max_bytes=200_000)["openai"]
    assert "audio.transcriptions.create(" in code and f"{speech_server.url}/models/{MODEL}/v1" in code
    printed = run_snippet([sys.executable, "-"], cwd=recording.parent, code=code)
    assert printed.splitlines()[0] == served["text"], printed[:500]
    assert len(printed.splitlines()) == 1 + len(served["segments"])
