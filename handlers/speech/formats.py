"""Transcript renderings: SubRip (``srt``) and WebVTT (``vtt``) from segments, and OpenAI's language names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["FORMATS", "LANGUAGE_NAMES", "srt", "vtt"]

#: OpenAI's ``response_format`` values.
FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
#: OpenAI's ``verbose_json`` names languages in English words (codes not listed are answered as codes).
LANGUAGE_NAMES = {
    "en": "english",
    "zh": "chinese",
    "de": "german",
    "es": "spanish",
    "ru": "russian",
    "ko": "korean",
    "fr": "french",
    "ja": "japanese",
    "pt": "portuguese",
    "tr": "turkish",
    "pl": "polish",
    "ca": "catalan",
    "nl": "dutch",
    "ar": "arabic",
    "sv": "swedish",
    "it": "italian",
    "id": "indonesian",
    "hi": "hindi",
    "fi": "finnish",
    "vi": "vietnamese",
    "he": "hebrew",
    "uk": "ukrainian",
    "el": "greek",
    "cs": "czech",
}


def _clock(seconds: float, separator: str) -> str:
    millis = round(max(seconds, 0.0) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cues(segments: Sequence[dict[str, Any]]) -> list[tuple[float, float, str]]:
    return [(float(s["start"]), float(s["end"]), str(s["text"]).strip()) for s in segments if str(s["text"]).strip()]


def srt(segments: Sequence[dict[str, Any]]) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``."""
    return "".join(
        f"{i}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{text}\n\n"
        for i, (start, end, text) in enumerate(_cues(segments), start=1)
    )


def vtt(segments: Sequence[dict[str, Any]]) -> str:
    """WebVTT: a ``WEBVTT`` header, then ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` cues."""
    return "WEBVTT\n\n" + "".join(
        f"{_clock(start, '.')} --> {_clock(end, '.')}\n{text}\n\n" for start, end, text in _cues(segments)
    )
