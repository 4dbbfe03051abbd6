"""The speech gate's sample audio: ``--sample DIR`` (or a list of paths or bytes), else built-in synthetic audio."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model_packager.job import InvalidRequestError

__all__ = ["AUDIO_SUFFIXES", "MAX_SAMPLES", "load_audio_samples", "synthetic_audio"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3")
#: At most this many sample files are kept (they travel in the bundle).
MAX_SAMPLES = 8
#: Sample files larger than this are refused (the bundle carries them).
MAX_SAMPLE_BYTES = 4 * 1024**2


def _flac(samples: np.ndarray, rate: int) -> bytes:
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="FLAC")
    return buffer.getvalue()


def synthetic_audio(rate: int = 16000) -> list[bytes]:
    """Three short FLAC recordings: voiced bursts with pauses, a sweep, and a stereo 44.1 kHz tone with noise."""
    rng = np.random.default_rng(7)
    bursts = np.zeros(int(4.0 * rate), dtype=np.float32)
    at = 0
    while at < len(bursts):
        length = min(int(rate * rng.uniform(0.1, 0.3)), len(bursts) - at)
        t = np.arange(length) / rate
        f0 = rng.uniform(100, 250)
        bursts[at : at + length] = 0.3 * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3)) * np.hanning(length)
        at += length + int(rate * rng.uniform(0.05, 0.4))
    t = np.arange(int(3.0 * rate)) / rate
    sweep = (0.4 * np.sin(2 * np.pi * (200 * t + 300 * t**2))).astype(np.float32)
    t44 = np.arange(int(2.5 * 44100)) / 44100
    tone = 0.3 * np.sin(2 * np.pi * 330 * t44) + 0.03 * rng.standard_normal(len(t44))
    stereo = np.stack([tone, 0.5 * tone], axis=1).astype(np.float32)
    return [_flac(bursts, rate), _flac(sweep, rate), _flac(stereo, 44100)]


def _files(directory: Path) -> list[Path]:
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise InvalidRequestError(
            f"{directory} holds no audio files ({', '.join(AUDIO_SUFFIXES)}): add a few recordings"
        )
    return files[:MAX_SAMPLES]


def load_audio_samples(sample: Any) -> tuple[list[bytes], str | None]:
    """The encoded sample files and a note saying where they came from."""
    if sample is None:
        return synthetic_audio(), "no --sample given: the gate heard built-in synthetic audio (3 recordings)"
    if isinstance(sample, str | Path):
        path = Path(sample)
        if path.is_dir():
            items: Sequence[Any] = _files(path)
        elif path.is_file():
            items = [path]
        else:
            raise InvalidRequestError(f"--sample {path} does not exist: give a folder of audio files")
    elif isinstance(sample, Sequence) and not isinstance(sample, bytes | bytearray):
        items = list(sample)[:MAX_SAMPLES]
    else:
        items = [sample]
    encoded: list[bytes] = []
    for item in items:
        data = Path(item).read_bytes() if isinstance(item, str | Path) else bytes(item)
        if len(data) > MAX_SAMPLE_BYTES:
            raise InvalidRequestError(
                f"sample {item if isinstance(item, str | Path) else len(encoded)} is {len(data):,} bytes; sample files "
                f"travel in the bundle: keep each under {MAX_SAMPLE_BYTES:,} bytes (a few seconds of FLAC)"
            )
        encoded.append(data)
    if not encoded:
        raise InvalidRequestError("the sample list is empty: give audio files, or no sample for built-in audio")
    return encoded, None
