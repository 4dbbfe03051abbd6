"""Audio in, as people upload it: decode, downmix, resample, and Whisper's log-mel features, in numpy.

Shared by the packager (its parity gate) and the runtime, so both hear the same samples:

* :func:`decode_audio`: WAV, FLAC, OGG/Vorbis/Opus and MP3 through libsndfile (``soundfile``), checked
  against the limits from the header *before* decoding, stereo averaged to mono, resampled with
  ``soxr`` to the model's rate; float32 in [-1, 1].
* :func:`log_mel`: Whisper's log-mel spectrogram (periodic Hann window, reflect-padded STFT, power
  spectrum, the bundle's own mel filter bank, log10, dynamic range 8, scaled): the numpy twin of
  transformers' ``WhisperFeatureExtractor``, gated against it at packaging.
* :func:`normalize`: wav2vec2's per-utterance zero-mean, unit-variance normalisation.

Errors (all :class:`AudioError`, a ``ValueError``; the runtime maps them to HTTP statuses):

=================================  =====  ===================================================
:class:`AudioDecodeError`          400    empty, truncated or corrupt file
:class:`UnsupportedAudioError`     415    a container this build cannot read (m4a, mp4, webm)
:class:`AudioTooLongError`         400    longer than the duration limit (from the header)
:class:`AudioTooLargeError`        413    more bytes than the byte limit
=================================  =====  ===================================================

``soundfile`` and ``soxr`` are imported on first use, with an install hint (``maaskit[speech]``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "FORMATS",
    "AudioDecodeError",
    "AudioError",
    "AudioTooLargeError",
    "AudioTooLongError",
    "DecodedAudio",
    "UnsupportedAudioError",
    "decode_audio",
    "log_mel",
    "normalize",
    "probe",
]

#: The containers this build decodes (libsndfile's names), for error messages and docs.
FORMATS = ("WAV", "FLAC", "OGG", "MP3")
_INSTALL = "install the speech extra: pip install 'maaskit[speech]' (soundfile, soxr)"
#: Leading bytes of containers libsndfile cannot read, and what they are.
_FOREIGN = ((b"\x1aE\xdf\xa3", "WebM/Matroska"), (b"ftyp", "MP4/M4A"), (b"RIFF", "RIFF"))


class AudioError(ValueError):
    """An audio file that cannot be used; the message says what to do. ``status`` is the HTTP answer."""

    status = 400


class AudioDecodeError(AudioError):
    """The file is empty, truncated or corrupt (or not audio at all)."""


class UnsupportedAudioError(AudioError):
    """A container this build does not decode (m4a/mp4/webm need FFmpeg)."""

    status = 415


class AudioTooLongError(AudioError):
    """The recording is longer than the duration limit."""


class AudioTooLargeError(AudioError):
    """The file has more bytes than the byte limit."""

    status = 413


@dataclass(frozen=True)
class DecodedAudio:
    """Mono float32 samples at ``rate``, with what the file was."""

    samples: np.ndarray
    rate: int
    source_rate: int
    channels: int
    format: str

    @property
    def seconds(self) -> float:
        """Duration of the decoded audio."""
        return len(self.samples) / float(self.rate)


def _soundfile() -> Any:
    try:
        import soundfile
    except ImportError:
        raise ImportError(f"decoding audio needs soundfile: {_INSTALL}") from None
    return soundfile


def _foreign(data: bytes) -> str | None:
    head = data[:12]
    for magic, name in _FOREIGN:
        if head.startswith(magic) or (magic == b"ftyp" and head[4:8] == magic):
            return None if name == "RIFF" else name
    return None


def probe(data: bytes) -> Any:
    """libsndfile's view of the header (frames, samplerate, channels, format); raises an AudioError."""
    if not data:
        raise AudioDecodeError("the audio file is empty: send a WAV, FLAC, OGG/Opus or MP3 file")
    soundfile = _soundfile()
    try:
        info = soundfile.info(io.BytesIO(data))
    except Exception as exc:  # libsndfile's LibsndfileError, RuntimeError, TypeError on odd input
        foreign = _foreign(data)
        if foreign is not None:
            raise UnsupportedAudioError(
                f"{foreign} audio is not supported by this server (no FFmpeg in the runtime): convert it to "
                f"FLAC, OGG/Opus, MP3 or WAV first (e.g. ffmpeg -i input -c:a flac output.flac)"
            ) from None
        detail = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
        raise AudioDecodeError(
            f"the audio file cannot be read ({detail}): send a complete WAV, FLAC, OGG/Opus or MP3 file"
        ) from None
    if info.frames <= 0 or info.samplerate <= 0 or info.channels <= 0:
        raise AudioDecodeError("the audio file holds no samples: send a recording that is not empty")
    return info


def decode_audio(
    data: bytes, rate: int, *, max_bytes: int | None = None, max_seconds: float | None = None
) -> DecodedAudio:
    """``data`` (an encoded file) as mono float32 at ``rate`` Hz; limits checked from the header first."""
    if max_bytes is not None and len(data) > max_bytes:
        raise AudioTooLargeError(
            f"the audio file is {len(data):,} bytes; this endpoint takes at most {max_bytes:,} bytes: "
            "send a shorter recording, or compress it (FLAC, OGG/Opus or MP3)"
        )
    info = probe(data)
    seconds = info.frames / float(info.samplerate)
    if max_seconds is not None and seconds > max_seconds:
        raise AudioTooLongError(
            f"the recording lasts {seconds:.1f} s; this model transcribes at most {max_seconds:.0f} s per request: "
            "split it and send the parts"
        )
    try:
        samples, source_rate = _soundfile().read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioDecodeError(
            f"the audio file is corrupt or truncated ({str(exc).strip()[:200] or type(exc).__name__}): "
            "send the complete file"
        ) from None
    if samples.shape[0] == 0:
        raise AudioDecodeError("the audio file holds no samples: send a recording that is not empty")
    mono = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]
    if not np.isfinite(mono).all():
        raise AudioDecodeError("the audio file holds NaN or infinite samples: re-encode it")
    return DecodedAudio(
        resample(mono, int(source_rate), rate), rate, int(source_rate), int(info.channels), str(info.format)
    )


def resample(samples: np.ndarray, source: int, target: int) -> np.ndarray:
    """``samples`` resampled from ``source`` to ``target`` Hz with soxr (high quality); float32."""
    if source == target:
        return np.ascontiguousarray(samples, dtype=np.float32)
    try:
        import soxr
    except ImportError:
        raise ImportError(f"resampling audio needs soxr: {_INSTALL}") from None
    return np.asarray(soxr.resample(samples.astype(np.float32), source, target, quality="HQ"), dtype=np.float32)


def normalize(samples: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance (wav2vec2's ``do_normalize``), float32."""
    values = samples.astype(np.float32)
    normalized: np.ndarray = ((values - values.mean()) / np.sqrt(values.var() + 1e-7)).astype(np.float32)
    return normalized


def _hann(length: int) -> np.ndarray:
    """The periodic Hann window (torch.hann_window / transformers' ``window_function(..., "hann")``)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)).astype(np.float64)


def log_mel(samples: np.ndarray, filters: np.ndarray, *, n_fft: int, hop_length: int, n_samples: int) -> np.ndarray:
    """Whisper's [n_mels, n_samples // hop_length] log-mel features of one window (padded or cut to ``n_samples``).

    ``filters`` is the [n_fft // 2 + 1, n_mels] mel filter bank the bundle stores (the feature extractor's own).
    """
    window = np.zeros(n_samples, dtype=np.float32)
    window[: min(len(samples), n_samples)] = samples[:n_samples]
    half = n_fft // 2
    padded = np.pad(window.astype(np.float64), (half, half), mode="reflect")
    count = 1 + (len(padded) - n_fft) // hop_length
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(count, n_fft), strides=(padded.strides[0] * hop_length, padded.strides[0])
    )
    power = np.abs(np.fft.rfft(frames * _hann(n_fft), n=n_fft, axis=1)) ** 2  # [frames, bins]
    mel = filters.T.astype(np.float64) @ power.T  # [n_mels, frames]
    spec = np.log10(np.maximum(mel, 1e-10))[:, :-1]
    spec = np.maximum(spec, spec.max() - 8.0)
    features: np.ndarray = ((spec + 4.0) / 4.0).astype(np.float32)
    return features
