"""OpenAI ``/v1/audio/transcriptions`` over real HTTP with the official ``openai`` client: CTC and Whisper."""

from __future__ import annotations

import importlib.util
import json
import re

import httpx
import numpy as np
import pytest

from bundle.speech import TRANSCRIPT_KEY, unpack_audio
from tests.speechmodels import chirp, encode, speech, tone

openai = pytest.importorskip("openai")
MODELS = ("tiny-ctc", "tiny-whisper")


@pytest.fixture(scope="module")
def wav() -> bytes:
    return encode(speech(5.0), 16000, "WAV")


@pytest.mark.parametrize("model", MODELS)
def test_every_response_format(openai_client, model: str, wav: bytes) -> None:
    create = openai_client.audio.transcriptions.create
    as_json = create(model=model, file=("a.wav", wav, "audio/wav"))
    assert isinstance(as_json.text, str) and as_json.text
    assert create(model=model, file=("a.wav", wav), response_format="text").strip() == as_json.text
    srt = create(model=model, file=("a.wav", wav), response_format="srt")
    assert re.match(r"1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n.+\n\n", srt)
    vtt = create(model=model, file=("a.wav", wav), response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n") and re.search(r"\d\d:\d\d:\d\d\.\d{3} --> ", vtt)
    verbose = create(
        model=model, file=("a.wav", wav), response_format="verbose_json", timestamp_granularities=["segment"]
    )
    assert verbose.duration == pytest.approx(5.0, abs=0.01) and verbose.segments
    for segment in verbose.segments:
        assert 0.0 <= segment.start <= segment.end <= 5.0 + 1e-6
        if model == "tiny-whisper":
            assert segment.avg_logprob < 0.0 and 0.0 <= segment.no_speech_prob <= 1.0 and segment.compression_ratio > 0
    assert verbose.text.strip()


@pytest.mark.parametrize("model", MODELS)
def test_served_transcripts_equal_the_samples_transformers_gave(openai_client, model: str, speech_runtimes) -> None:
    runtime = next(r for r in speech_runtimes if r.name == model)
    samples = runtime.bundle.samples()
    for data, expected in zip(unpack_audio(samples.inputs), samples.outputs[TRANSCRIPT_KEY].tolist(), strict=True):
        answer = openai_client.audio.transcriptions.create(model=model, file=("s.flac", data, "audio/flac"))
        assert answer.text == str(expected).strip()


@pytest.mark.parametrize(
    ("fmt", "subtype", "rate", "channels", "name"),
    [
        ("WAV", None, 8000, 1, "a.wav"),
        ("WAV", None, 44100, 2, "a.wav"),
        ("WAV", None, 48000, 2, "a.wav"),
        ("FLAC", None, 16000, 1, "a.flac"),
        ("OGG", "OPUS", 48000, 1, "a.ogg"),
        ("MP3", None, 44100, 2, "a.mp3"),
    ],
)
def test_formats_and_rates_transcribe(
    openai_client, fmt: str, subtype: str | None, rate: int, channels: int, name: str
) -> None:
    data = encode(tone(3.0, rate, freq=300.0, channels=channels), rate, fmt, subtype)
    for model in MODELS:
        answer = openai_client.audio.transcriptions.create(model=model, file=(name, data))
        assert isinstance(answer.text, str)


def test_a_ten_minute_file_gets_segment_times(openai_client) -> None:
    data = encode(np.tile(chirp(10.0), 60), 16000, "FLAC")
    for model in MODELS:
        verbose = openai_client.audio.transcriptions.create(
            model=model, file=("long.flac", data), response_format="verbose_json"
        )
        assert verbose.duration == pytest.approx(600.0, abs=0.1)
        starts = [segment.start for segment in verbose.segments]
        assert starts == sorted(starts) and len(starts) >= 10, model
        assert verbose.segments[-1].end > 570.0, model


def _error(error: openai.APIStatusError) -> dict:
    body = error.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


HAS_AV = importlib.util.find_spec("av") is not None


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 400, "empty"),
        (b"garbage " * 50, 400, "cannot be read"),
        # a broken m4a: FFmpeg (the speech-av extra) says it cannot be decoded; without it, a 415 to convert it
        (b"\x00\x00\x00\x20ftypM4A " + b"\x00" * 100, 400 if HAS_AV else 415, "complete" if HAS_AV else "convert"),
    ],
)
def test_bad_files_are_4xx_in_openai_shape(openai_client, data: bytes, status: int, words: str) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client.audio.transcriptions.create(model="tiny-whisper", file=("x.m4a", data))
    assert caught.value.status_code == status
    assert words in _error(caught.value)["message"]


def test_bad_parameters_name_themselves(openai_client, wav: bytes) -> None:
    create = openai_client.audio.transcriptions.create
    with pytest.raises(openai.NotFoundError) as caught:
        create(model="nope", file=("a.wav", wav))
    assert _error(caught.value)["param"] == "model"
    with pytest.raises(openai.BadRequestError, match="language 'xx'"):
        create(model="tiny-whisper", file=("a.wav", wav), language="xx")
    with pytest.raises(openai.BadRequestError, match="from 0 to 1"):
        create(model="tiny-whisper", file=("a.wav", wav), temperature=1.5)
    with pytest.raises(openai.BadRequestError, match="CTC model decodes greedily"):
        create(model="tiny-ctc", file=("a.wav", wav), temperature=0.7)
    with pytest.raises(openai.BadRequestError) as caught:
        create(model="tiny-whisper", file=("a.wav", wav), response_format="xml")  # type: ignore[arg-type]
    assert _error(caught.value)["param"] == "response_format"


def test_temperature_samples_and_says_so(openai_client, wav: bytes) -> None:
    """temperature > 0 draws Whisper's tokens (segments report it); 0 or absent stays greedy and repeatable."""
    create = openai_client.audio.transcriptions.create
    greedy = [create(model="tiny-whisper", file=("a.wav", wav), response_format="verbose_json") for _ in range(2)]
    assert greedy[0].text == greedy[1].text and {s.temperature for s in greedy[0].segments} == {0.0}
    sampled = [
        create(model="tiny-whisper", file=("a.wav", wav), response_format="verbose_json", temperature=1.0)
        for _ in range(3)
    ]
    assert all(s.segments and {seg.temperature for seg in s.segments} == {1.0} for s in sampled)
    # a random-weight model's next-token distribution is nearly flat: draws differ from greedy and each other
    assert len({s.text for s in sampled} | {greedy[0].text}) >= 3


def test_language_prompt_and_translation(openai_client, wav: bytes) -> None:
    create = openai_client.audio.transcriptions.create
    french = create(model="tiny-whisper", file=("a.wav", wav), language="fr", response_format="verbose_json")
    assert french.language == "french"
    assert isinstance(create(model="tiny-whisper", file=("a.wav", wav), prompt="the cat sat on the mat").text, str)
    translated = openai_client.audio.translations.create(model="tiny-whisper", file=("a.wav", wav))
    assert isinstance(translated.text, str)


def test_each_model_is_its_own_base_url(speech_live, wav: bytes) -> None:
    scoped = openai.OpenAI(base_url=f"{speech_live.url}/models/tiny-ctc/v1", api_key="x", max_retries=0)
    assert scoped.audio.transcriptions.create(model="tiny-ctc", file=("a.wav", wav)).text
    with pytest.raises(openai.NotFoundError):
        scoped.audio.transcriptions.create(model="tiny-whisper", file=("a.wav", wav))


def test_a_json_body_is_415_not_500(speech_live) -> None:
    answer = httpx.post(f"{speech_live.url}/v1/audio/transcriptions", json={"model": "tiny-ctc"}, timeout=30)
    assert answer.status_code == 415 and json.loads(answer.text)["error"]["message"]
