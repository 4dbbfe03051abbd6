"""A transcript and its segments: what every speech engine gives (Whisper's and CTC's)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

__all__ = ["Segment", "Transcript", "compression_ratio"]


@dataclass(frozen=True)
class Segment:
    """A stretch of speech with its times in seconds."""

    start: float
    end: float
    text: str
    tokens: list[int] = field(default_factory=list)
    avg_logprob: float | None = None
    """Mean log-probability of its window's tokens (end of text included), as OpenAI reports it; computed
    only where asked (``logprobs``): it needs every step's full logits."""
    no_speech_prob: float = 0.0
    """Probability of ``<|nocaptions|>`` at the start of its window."""
    compression_ratio: float = 0.0
    """Bytes of its window's text over their zlib size (repetition loops score high)."""
    temperature: float = 0.0
    """The sampling temperature its tokens were drawn at (0: greedy)."""


@dataclass(frozen=True)
class Transcript:
    """A recording's text, its language and its segments (times only where timestamps were decoded)."""

    text: str
    language: str | None
    duration: float
    segments: list[Segment]


def compression_ratio(text: str) -> float:
    """Bytes of ``text`` over their zlib size (repetition loops score high)."""
    data = text.strip().encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0
