"""The speed work on speech serving changes no answer: log-mel's skipped padding, the sessions' thread settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bundle.processing.audio import _mel_projection, log_mel
from handlers.settings import Settings
from handlers.speech.runtime import load_speech


def _full_log_mel(samples: np.ndarray, filters: np.ndarray, n_fft: int, hop: int, n_samples: int) -> np.ndarray:
    """Every frame computed, as transformers' WhisperFeatureExtractor does (the reference for the shortcut)."""
    window = np.zeros(n_samples, dtype=np.float32)
    window[: min(len(samples), n_samples)] = samples[:n_samples]
    padded = np.pad(window.astype(np.float64), (n_fft // 2, n_fft // 2), mode="reflect")
    count = 1 + (len(padded) - n_fft) // hop
    frames = np.stack([padded[i * hop : i * hop + n_fft] for i in range(count)])
    hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)
    power = np.abs(np.fft.rfft(frames * hann, n=n_fft, axis=1)) ** 2
    spec = np.log10(np.maximum(filters.T @ power.T, 1e-10))[:, :-1]
    spec = np.maximum(spec, spec.max() - 8.0)
    result: np.ndarray = ((spec + 4.0) / 4.0).astype(np.float32)
    return result


def test_mel_projection_without_blas_is_the_matrix_product() -> None:
    """The sparse mel projection equals ``power @ filters``, empty mel bins (all-zero filters) included."""
    rng = np.random.default_rng(0)
    filters = np.where(rng.random((201, 80)) < 0.03, rng.random((201, 80)), 0.0)
    filters[:, 7] = 0.0
    power = rng.random((333, 201)) ** 4
    projected = _mel_projection(power, filters)
    np.testing.assert_allclose(projected, power @ filters, rtol=1e-12, atol=1e-300)
    assert not projected[:, 7].any()


@pytest.mark.parametrize("length", [1, 150, 16000, 160123, 479700, 479801, 480000, 512000])
def test_log_mel_skips_only_silent_padding(length: int) -> None:
    """Frames past a short recording are skipped; the features stay those of the full computation."""
    rng = np.random.default_rng(length)
    filters = np.abs(rng.standard_normal((201, 80))) * 1e-3
    samples = (rng.standard_normal(length) * 0.1).astype(np.float32)
    samples[-20:] = 0.0  # trailing silence inside the recording is not padding
    ours = log_mel(samples, filters, n_fft=400, hop_length=160, n_samples=480000)
    expected = _full_log_mel(samples, filters, 400, 160, 480000)
    assert ours.shape == (80, 3000) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)


def test_speech_sessions_do_not_spin_and_still_reproduce_the_samples(whisper_bundle: Path) -> None:
    """Both Whisper graphs run with blocking intra-op threads; the warm-up still reproduces the gate's transcripts."""
    settings = Settings.load(environ={}, access_log=False, metrics="none", intra_op_threads=2)
    runtime = load_speech(whisper_bundle, settings)  # warm-up judges the samples
    assert runtime.ready
    decoder = runtime.engine.decoder  # type: ignore[attr-defined]
    for session in (runtime.session, decoder.decoder):
        options = session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        assert options.intra_op_num_threads == 2
