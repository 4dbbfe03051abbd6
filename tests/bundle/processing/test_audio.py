"""Audio in: every format decodes to mono at the model's rate, limits come from the header, bad files say so."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("soundfile")
pytest.importorskip("soxr")

from bundle.parity_speech import reproduces_speech, word_error_rate
from bundle.processing import audio as audio_module
from bundle.processing.audio import (
    AudioDecodeError,
    AudioTooLargeError,
    AudioTooLongError,
    UnsupportedAudioError,
    decode_audio,
    log_mel,
)
from bundle.processing.ctc import CTCDecoder
from bundle.speech import CTCSpec, pack_audio, unpack_audio
from tests.speechmodels import encode, tone

FORMATS = [
    ("WAV", None, 8000, 1),
    ("WAV", None, 16000, 1),
    ("WAV", "PCM_16", 44100, 2),
    ("WAV", "FLOAT", 48000, 2),
    ("FLAC", None, 16000, 2),
    ("OGG", "VORBIS", 44100, 1),
    ("OGG", "OPUS", 48000, 2),
    ("MP3", None, 44100, 2),
]


@pytest.mark.parametrize(("fmt", "subtype", "rate", "channels"), FORMATS)
def test_every_format_decodes_to_mono_at_the_model_rate(
    fmt: str, subtype: str | None, rate: int, channels: int
) -> None:
    data = encode(tone(2.0, rate, freq=440.0, channels=channels), rate, fmt, subtype)
    decoded = decode_audio(data, 16000)
    assert decoded.rate == 16000 and decoded.source_rate == rate and decoded.channels == channels
    assert decoded.samples.dtype == np.float32 and decoded.samples.ndim == 1
    assert abs(decoded.seconds - 2.0) < 0.1  # MP3 and Opus pad a little
    spectrum = np.abs(np.fft.rfft(decoded.samples[4000:20000]))
    assert abs(np.argmax(spectrum) * 16000 / 16000 - 440) < 5  # the tone survives decoding and resampling


def test_stereo_is_averaged() -> None:
    left = tone(1.0, 16000)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    decoded = decode_audio(encode(stereo, 16000, "WAV", "FLOAT"), 16000)
    np.testing.assert_allclose(decoded.samples, left / 2, atol=1e-6)


@pytest.mark.parametrize("data", [b"", b"RIFF\x00\x00\x00\x00WAVEfmt ", b"not audio at all" * 10])
def test_empty_truncated_or_garbage_files_are_decode_errors(data: bytes) -> None:
    with pytest.raises(AudioDecodeError, match="send"):
        decode_audio(data, 16000)


def test_a_truncated_file_says_so() -> None:
    data = encode(tone(2.0), 16000, "FLAC")
    with pytest.raises(AudioDecodeError):
        decode_audio(data[: len(data) // 3] + b"\x00" * 10, 16000)


@pytest.mark.parametrize(
    ("head", "name"),
    [(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "MP4/M4A"), (b"\x1aE\xdf\xa3\x9fB\x86\x81\x01", "WebM")],
)
def test_m4a_and_webm_are_unsupported_with_a_way_out(head: bytes, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the speech-av extra (PyAV), an m4a or webm upload is a 415 that says how to convert it."""
    monkeypatch.setattr(audio_module, "_av", lambda: None)
    with pytest.raises(UnsupportedAudioError, match="convert") as caught:
        decode_audio(head + b"\x00" * 200, 16000)
    assert name in str(caught.value) and caught.value.status == 415


def test_limits_come_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(tone(5.0), 16000, "FLAC")
    with pytest.raises(AudioTooLargeError, match="at most 100 bytes") as caught:
        decode_audio(data, 16000, max_bytes=100)
    assert caught.value.status == 413

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("decoded a file the header already refused")

    monkeypatch.setattr(audio_module._soundfile(), "read", never)
    with pytest.raises(AudioTooLongError, match="lasts 5.0 s"):
        decode_audio(data, 16000, max_seconds=3)


def test_log_mel_matches_transformers() -> None:
    transformers = pytest.importorskip("transformers")
    extractor = transformers.WhisperFeatureExtractor(feature_size=80)
    samples = tone(7.0, seed=3)
    expected = extractor(samples, sampling_rate=16000, return_tensors="np").input_features[0]
    ours = log_mel(samples, extractor.mel_filters, n_fft=400, hop_length=160, n_samples=480000)
    assert ours.shape == (80, 3000)
    assert float(np.abs(ours - expected).max()) < 1e-4


def test_ctc_decoding_collapses_repeats_before_dropping_blanks() -> None:
    vocab = {"<pad>": 0, "|": 1, "a": 2, "b": 3}
    decoder = CTCDecoder(vocab, CTCSpec(vocab_sha256="0" * 64, blank_id=0, samples_per_frame=320))
    assert decoder.decode(np.array([2, 2, 0, 2, 1, 1, 3, 0, 0, 3, 1])) == "aa bb"
    assert decoder.decode(np.array([], dtype=np.int64)) == ""


def test_the_transcript_rule() -> None:
    assert reproduces_speech(["hello world"], ["hello  world"]).passed
    verdict = reproduces_speech(["hello world", "a b c d"], ["hello world", "a b x d"])
    assert not verdict.passed and verdict.agreement == 0.5 and "sample 1" in verdict.problems[0]
    assert reproduces_speech(["a b c d"], ["a b x d"], max_word_error_rate=0.25).passed
    assert word_error_rate(["a b c d"], ["a c d e"]) == pytest.approx(0.5)


def test_audio_samples_round_trip() -> None:
    files = [b"abc", b"", b"\x00\x01\x02\x03\x04"]
    assert unpack_audio(pack_audio(files)) == files
