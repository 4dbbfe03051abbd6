"""M4A, MP4 and WebM recordings (encoded by PyAV itself) through the ``speech-av`` extra, and the 415 without it."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

import bundle.processing.audio as audio
from bundle.processing.audio import AudioTooLongError, decode_audio
from tests.handlers.speech.avfiles import CONTAINERS, encode_av
from tests.speechmodels import encode, tone

SECONDS = 3.0


@pytest.fixture(scope="module")
def recording() -> np.ndarray:
    return tone(SECONDS, 48000, freq=300.0, channels=2)


@pytest.fixture(scope="module")
def files(recording: np.ndarray) -> dict[str, bytes]:
    pytest.importorskip("av")
    return {container: encode_av(recording, 48000, container) for container in CONTAINERS}


@pytest.mark.parametrize("container", list(CONTAINERS))
def test_decoded_like_the_recording(files, recording, container: str) -> None:
    decoded = decode_audio(files[container], 16000)
    reference = decode_audio(encode(recording, 48000, "FLAC"), 16000)  # libsndfile's reading of the same audio
    assert decoded.channels == 2 and decoded.source_rate == 48000
    assert decoded.seconds == pytest.approx(SECONDS, abs=0.1)  # AAC adds at most a frame of padding
    rms = float(np.sqrt(np.mean(decoded.samples**2)))
    assert rms == pytest.approx(float(np.sqrt(np.mean(reference.samples**2))), rel=0.1)


@pytest.mark.parametrize("container", list(CONTAINERS))
def test_every_route_transcribes_them(openai_client, speech_live, files, container: str) -> None:
    data, media = files[container], CONTAINERS[container][2]
    for model in ("tiny-ctc", "tiny-whisper"):
        text = openai_client.audio.transcriptions.create(model=model, file=(f"a.{container}", data)).text
        headers = {"content-type": media, "x-maaskit-model": model}
        answer = httpx.post(f"{speech_live.url}/invocations", content=data, headers=headers, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"text": text}


def test_a_streamed_webm_without_duration_is_stopped_at_the_limit(recording) -> None:
    pytest.importorskip("av")
    streamed = encode_av(recording, 48000, "webm", streamed=True)
    with pytest.raises(AudioTooLongError, match="lasts more than 1 s; this model transcribes at most 1 s"):
        decode_audio(streamed, 16000, max_seconds=1.0)
    assert decode_audio(streamed, 16000, max_seconds=60.0).seconds == pytest.approx(SECONDS, abs=0.1)


def test_without_av_an_m4a_is_415_naming_the_extra(openai_client, speech_live, monkeypatch) -> None:
    openai = pytest.importorskip("openai")
    m4a = b"\x00\x00\x00\x20ftypM4A " + b"\x00" * 100  # the header is enough: refused before decoding
    monkeypatch.setattr(audio, "_av", lambda: None)
    answer = httpx.post(
        f"{speech_live.url}/invocations",
        content=m4a,
        headers={"content-type": "audio/mp4", "x-maaskit-model": "tiny-ctc"},
        timeout=60,
    )
    assert answer.status_code == 415
    message = answer.json()["error"]
    assert "maaskit[speech-av]" in message and "ffmpeg -i input -c:a flac output.flac" in message
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client.audio.transcriptions.create(model="tiny-whisper", file=("a.m4a", m4a))
    assert caught.value.status_code == 415
    assert "maaskit[speech-av]" in caught.value.response.json()["error"]["message"]
