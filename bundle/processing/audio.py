"""Audio in, as people upload it: decode, downmix, resample, and Whisper's log-mel features, in numpy.

Shared by the packager (its parity gate) and the runtime, so both hear the same samples:

* :func:`decode_audio`: WAV, FLAC, OGG/Vorbis/Opus and MP3 through libsndfile (``soundfile``), checked
  against the limits from the header *before* decoding, stereo averaged to mono, resampled with
  ``soxr`` to the model's rate; float32 in [-1, 1]. M4A/MP4/WebM (and whatever else libsndfile cannot
  read, e.g. AAC or AMR) through FFmpeg when PyAV is installed (``maaskit[speech-av]``), else a 415.
* :func:`log_mel`: Whisper's log-mel spectrogram (periodic Hann window, reflect-padded STFT, power
  spectrum, the bundle's own mel filter bank, log10, dynamic range 8, scaled): the numpy twin of
  transformers' ``WhisperFeatureExtractor``, gated against it at packaging.
* :func:`normalize`: wav2vec2's per-utterance zero-mean, unit-variance normalisation.

Errors (all :class:`AudioError`, a ``ValueError``; the runtime maps them to HTTP statuses):

=================================  =====  ===================================================
:class:`AudioDecodeError`          400    empty, truncated or corrupt file
:class:`UnsupportedAudioError`     415    m4a, mp4 or webm without PyAV installed
:class:`AudioTooLongError`         400    longer than the duration limit (from the header)
:class:`AudioTooLargeError`        413    more bytes than the byte limit
=================================  =====  ===================================================

``soundfile`` and ``soxr`` are imported on first use, with an install hint (``maaskit[speech]``); ``av`` only
for the files libsndfile cannot read.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from typing import Any

import numpy as np

__all__ = [
    "AV_EXTRA",
    "AV_FORMATS",
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
#: The containers decoded through FFmpeg when PyAV is installed.
AV_FORMATS = ("M4A", "MP4", "WebM")
_INSTALL = "install the speech extra: pip install 'maaskit[speech]' (soundfile, soxr)"
#: The extra that adds FFmpeg (PyAV) for m4a/mp4/webm.
AV_EXTRA = "maaskit[speech-av]"
#: Leading bytes of containers libsndfile cannot read, and what they are.
_FOREIGN = ((b"\x1aE\xdf\xa3", "WebM/Matroska"), (b"ftyp", "MP4/M4A"), (b"RIFF", "RIFF"))
_READABLE = "WAV, FLAC, OGG/Opus or MP3"


class AudioError(ValueError):
    """An audio file that cannot be used; the message says what to do. ``status`` is the HTTP answer."""

    status = 400


class AudioDecodeError(AudioError):
    """The file is empty, truncated or corrupt (or not audio at all)."""


class UnsupportedAudioError(AudioError):
    """A container this build does not decode (m4a/mp4/webm need FFmpeg: PyAV)."""

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


def _av() -> Any | None:
    """PyAV when installed (the ``speech-av`` extra), else None."""
    try:
        import av
    except ImportError:
        return None
    return av


def _detail(exc: BaseException) -> str:
    text = str(getattr(exc, "strerror", None) or exc).strip()  # FFmpeg's errors: the reason without the file
    return text.splitlines()[-1][:200] if text else type(exc).__name__


def _unreadable(data: bytes, exc: BaseException) -> AudioError:
    """Why libsndfile cannot read ``data``: a container it does not know (415), or a broken file (400)."""
    foreign = _foreign(data)
    if foreign is not None:
        return UnsupportedAudioError(
            f"{foreign} audio needs FFmpeg, which this server does not have (its operator can install {AV_EXTRA}): "
            f"convert it to {_READABLE} first (e.g. ffmpeg -i input -c:a flac output.flac)"
        )
    return AudioDecodeError(f"the audio file cannot be read ({_detail(exc)}): send a complete {_READABLE} file")


def _too_long(seconds: float, max_seconds: float | None, *, stopped: bool = False) -> None:
    """AudioTooLongError past the limit (``stopped``: decoding stopped there, the file is longer still)."""
    if max_seconds is not None and seconds > max_seconds:
        lasts = f"more than {max_seconds:.0f} s" if stopped else f"{seconds:.1f} s"
        raise AudioTooLongError(
            f"the recording lasts {lasts}; this model transcribes at most {max_seconds:.0f} s per request: "
            "split it and send the parts"
        )


def probe(data: bytes) -> Any:
    """libsndfile's view of the header (frames, samplerate, channels, format); raises an AudioError."""
    if not data:
        raise AudioDecodeError(f"the audio file is empty: send a {_READABLE} file")
    soundfile = _soundfile()
    try:
        info = soundfile.info(io.BytesIO(data))
    except Exception as exc:  # libsndfile's LibsndfileError, RuntimeError, TypeError on odd input
        raise _unreadable(data, exc) from None
    if info.frames <= 0 or info.samplerate <= 0 or info.channels <= 0:
        raise AudioDecodeError("the audio file holds no samples: send a recording that is not empty")
    return info


def _decode_sndfile(data: bytes, info: Any, max_seconds: float | None) -> tuple[np.ndarray, int, int, str]:
    """Mono samples, their rate, the channel count and the format, through libsndfile."""
    _too_long(info.frames / float(info.samplerate), max_seconds)
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
    return mono, int(source_rate), int(info.channels), str(info.format)


def _decode_av(av: Any, data: bytes, max_seconds: float | None) -> tuple[np.ndarray, int, int, str]:
    """Mono samples, their rate, the channel count and the container, through FFmpeg (PyAV).

    The duration limit is checked from the container's header when it has one, and while decoding
    (a browser's WebM recording carries no duration).
    """
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.audio:
            raise AudioDecodeError("the file holds no audio stream: send a recording")
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        if rate <= 0:
            raise AudioDecodeError("the audio stream has no sampling rate: re-encode the file")
        if container.duration:
            _too_long(container.duration / av.time_base, max_seconds)
        limit = None if max_seconds is None else int(max_seconds * rate) + 1
        resampler = av.AudioResampler(format="fltp")  # planar float32 at the stream's own rate and layout
        chunks: list[np.ndarray] = []
        decoded = 0
        for frame in chain(container.decode(stream), [None]):  # None flushes the resampler
            for planar in resampler.resample(frame):
                channels = planar.to_ndarray()  # [channels, samples]
                chunks.append(channels.mean(axis=0, dtype=np.float32) if channels.shape[0] > 1 else channels[0])
                decoded += channels.shape[1]
            if limit is not None and decoded > limit:
                _too_long(decoded / rate, max_seconds, stopped=True)
        if not decoded:
            raise AudioDecodeError("the audio file holds no samples: send a recording that is not empty")
        name = _foreign(data) or str(container.format.name)
        return np.concatenate(chunks), rate, int(stream.codec_context.channels), name


def decode_audio(
    data: bytes, rate: int, *, max_bytes: int | None = None, max_seconds: float | None = None
) -> DecodedAudio:
    """``data`` (an encoded file) as mono float32 at ``rate`` Hz; limits checked from the header first.

    libsndfile reads WAV, FLAC, OGG and MP3; what it cannot read goes to FFmpeg when PyAV is installed.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise AudioTooLargeError(
            f"the audio file is {len(data):,} bytes; this endpoint takes at most {max_bytes:,} bytes: "
            "send a shorter recording, or compress it (FLAC, OGG/Opus or MP3)"
        )
    try:
        mono, source_rate, channels, container = _decode_sndfile(data, probe(data), max_seconds)
    except (AudioDecodeError, UnsupportedAudioError) as unreadable:
        av = _av() if data else None
        if av is None:
            raise
        try:
            mono, source_rate, channels, container = _decode_av(av, data, max_seconds)
        except AudioError:
            raise
        except Exception as exc:  # FFmpeg's errors (av.FFmpegError and its kinds), odd streams
            foreign = _foreign(data)
            if foreign is None:
                raise unreadable from None
            raise AudioDecodeError(
                f"the {foreign} file cannot be decoded ({_detail(exc)}): send the complete file"
            ) from None
    if not np.isfinite(mono).all():
        raise AudioDecodeError("the audio file holds NaN or infinite samples: re-encode it")
    return DecodedAudio(resample(mono, source_rate, rate), rate, source_rate, channels, container)


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


@lru_cache(maxsize=8)
def _hann(length: int) -> np.ndarray:
    """The periodic Hann window (torch.hann_window / transformers' ``window_function(..., "hann")``), cached."""
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)).astype(np.float64)
    window.flags.writeable = False
    return window


def _mel_projection(power: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """``power @ filters`` over the filter bank's non-zero weights only, in numpy's own loops (no BLAS).

    A mel filter spans a few FFT bins (Whisper's 201 x 80 bank has 391 non-zero weights of 16,080). BLAS is
    avoided on purpose: OpenBLAS's worker threads keep spinning after a product and took the cores from
    the encoder that runs next (a 30 s window's encoder took 190 instead of 152 ms on 2 cores).
    """
    mels, bins = np.nonzero(filters.T)  # ordered by mel bin, then FFT bin
    products = power[:, bins] * filters[bins, mels]
    present, starts = np.unique(mels, return_index=True)
    out = np.zeros((power.shape[0], filters.shape[1]), dtype=np.float64)
    if present.size:
        out[:, present] = np.add.reduceat(products, starts, axis=1)
    return out


def log_mel(samples: np.ndarray, filters: np.ndarray, *, n_fft: int, hop_length: int, n_samples: int) -> np.ndarray:
    """Whisper's [n_mels, n_samples // hop_length] log-mel features of one window (padded or cut to ``n_samples``).

    ``filters`` is the [n_fft // 2 + 1, n_mels] mel filter bank the bundle stores (the feature extractor's own).
    Frames that only see the zero padding after a short recording have no energy: their FFT, mel
    projection and logarithm are skipped (they are ``log10(1e-10)`` exactly, as computing them gives),
    so a 10 s recording costs a third of a full window. The frames are windowed in one vectorised pass
    (a strided view, no copy), the power spectrum is ``re**2 + im**2``, and the mel projection covers
    the frames that carry sound (:func:`_mel_projection`).
    """
    kept = min(len(samples), n_samples)
    half = n_fft // 2
    count = n_samples // hop_length  # the last STFT frame is dropped (Whisper's ``[:, :-1]``)
    # frames whose n_fft samples (centred, reflect-padded) touch the recording; the rest see zeros only
    # (the reflected tail of an all-zero pad is zeros too, unless the recording fills the window)
    live = count if kept >= n_samples - half else min(count, (kept + half + hop_length - 1) // hop_length)
    padded = np.zeros(n_samples + 2 * half, dtype=np.float64)
    padded[half : half + kept] = samples[:kept]
    if half:
        padded[:half] = padded[2 * half : half : -1]  # reflect: x[half], ..., x[1]
        padded[-half:] = padded[-half - 2 : -2 * half - 2 : -1]  # reflect: x[-2], ..., x[-half - 1]
    mel = np.zeros((count, filters.shape[1]), dtype=np.float64)
    if live:
        frames = np.lib.stride_tricks.as_strided(
            padded, shape=(live, n_fft), strides=(padded.strides[0] * hop_length, padded.strides[0]), writeable=False
        )
        spectrum = np.fft.rfft(frames * _hann(n_fft), n=n_fft, axis=1)  # [frames, bins]
        power = spectrum.real**2 + spectrum.imag**2
        mel[:live] = _mel_projection(power, np.asarray(filters, dtype=np.float64))  # [frames, n_mels]
    spec = np.log10(np.maximum(mel.T, 1e-10))
    spec = np.maximum(spec, spec.max() - 8.0)
    features: np.ndarray = ((spec + 4.0) / 4.0).astype(np.float32)
    return features
