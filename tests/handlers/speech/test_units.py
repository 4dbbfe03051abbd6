"""Units of the speech path: Whisper's segments and seeking, CTC segments, subtitle renderings, the options check."""

from __future__ import annotations

import numpy as np
import pytest

from bundle.processing.transcript import Segment
from bundle.processing.whisper import WhisperDecoder
from bundle.processing.whisper_rules import apply_rules
from bundle.speech import FeatureSpec, WhisperSpec
from handlers.speech.formats import srt, vtt

BEGIN = 100  # <|0.00|>
EOT = 50


class _Words:
    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(f" w{i}" for i in ids)


def _decoder() -> WhisperDecoder:
    spec = WhisperSpec(tokenizer_sha256="0" * 64, layers=1, heads=1, head_dim=4, vocab_size=2000,
                       max_target_positions=448, max_new_tokens=224, start_token_id=60, eos_token_id=EOT,
                       no_timestamps_token_id=BEGIN - 1, timestamp_begin=BEGIN, multilingual=False,
                       max_initial_timestamp_index=50)  # fmt: skip
    features = FeatureSpec(kind="log-mel", sampling_rate=16000, n_mels=80, n_fft=400, hop_length=160, chunk_length=30)
    return WhisperDecoder(spec, features, np.zeros((201, 80)), lambda f: [], None, _Words())


def ts(seconds: float) -> int:
    return BEGIN + round(seconds / 0.02)


def test_complete_segments_and_the_seek_to_the_last_one() -> None:
    tokens = [ts(0.0), 1, 2, ts(2.0), ts(2.0), 3, ts(5.5), ts(6.0), 4, 5]  # the last segment has no end
    segments, advance = _decoder()._segments(tokens, offset=30.0, span=30.0)
    assert [(s.start, s.end, s.text) for s in segments] == [(30.0, 32.0, " w1 w2"), (32.0, 35.5, " w3")]
    assert advance == pytest.approx(5.5)  # the next window starts where the last complete segment ended


def test_a_single_timestamp_ending_consumes_the_window() -> None:
    tokens = [ts(0.0), 1, ts(4.0), ts(4.0), 2, ts(9.0), EOT]
    segments, advance = _decoder()._segments(tokens, offset=0.0, span=30.0)
    assert [(s.start, s.end) for s in segments] == [(0.0, 4.0), (4.0, 9.0)]
    assert advance == 30.0


def test_no_pairs_is_one_segment_up_to_the_last_timestamp() -> None:
    segments, advance = _decoder()._segments([ts(0.4), 1, 2, 3], offset=60.0, span=12.0)
    assert [(s.start, s.end, s.text) for s in segments] == [(60.0, 60.4, " w1 w2 w3")]
    assert advance == 12.0


def test_timestamp_rules_follow_transformers() -> None:
    decoder = _decoder()
    logits = np.zeros(2000, dtype=np.float32)
    logits[5] = 10.0
    first = apply_rules(decoder.spec, logits, [], timestamps=True)
    assert np.isneginf(first[:BEGIN]).all() and np.isfinite(first[BEGIN : BEGIN + 51]).all()
    assert np.isneginf(first[BEGIN + 51 :]).all()  # max_initial_timestamp_index 50
    after_pair = apply_rules(decoder.spec, logits, [ts(0.0), 7, ts(1.0), ts(1.0)], timestamps=True)
    assert np.isneginf(after_pair[BEGIN:]).all()  # two timestamps in a row: text must follow
    after_one = apply_rules(decoder.spec, logits, [ts(0.0), 7, ts(1.0)], timestamps=True)
    assert np.isneginf(after_one[:EOT]).all() and np.isneginf(after_one[BEGIN : ts(1.0)]).all()


def test_subtitles() -> None:
    segments = [{"start": 0.0, "end": 2.5, "text": " hello"}, {"start": 3661.2, "end": 3662.0, "text": " world "}]
    assert srt(segments) == "1\n00:00:00,000 --> 00:00:02,500\nhello\n\n2\n01:01:01,200 --> 01:01:02,000\nworld\n\n"
    assert vtt(segments).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nhello\n\n")
    assert Segment(0, 1, "x").tokens == []
