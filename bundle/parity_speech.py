"""The transcript rule: does a speech bundle reproduce its samples' transcripts?

A speech bundle's samples are audio files and what the original model transcribed greedily. The rule
compares transcripts, not tensors: whitespace runs collapse, nothing else is forgiven. With
``max_word_error_rate`` 0 (fp32 bundles) every transcript must equal its sample's; a quantized bundle
records the word error rate its gate allowed, and every later judgement uses that bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["SpeechVerdict", "reproduces_speech", "word_error_rate", "words"]


def words(text: str) -> list[str]:
    """``text`` split into words (whitespace runs collapse)."""
    return text.split()


def _edits(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance between two word lists (substitutions, insertions, deletions)."""
    previous = list(range(len(hypothesis) + 1))
    for row, word in enumerate(reference, start=1):
        current = [row]
        for column, other in enumerate(hypothesis, start=1):
            current.append(min(previous[column] + 1, current[column - 1] + 1, previous[column - 1] + (word != other)))
        previous = current
    return previous[-1]


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Edits over reference words, all pairs together (1.0 per hypothesis word when references are empty)."""
    edits = total = 0
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        expected, actual = words(reference), words(hypothesis)
        edits += _edits(expected, actual)
        total += len(expected)
    if total == 0:
        return 0.0 if edits == 0 else float(edits)
    return edits / total


@dataclass(frozen=True)
class SpeechVerdict:
    """The rule's answer: passed, the figures, and one line per sample that differs."""

    passed: bool
    agreement: float
    word_error_rate: float
    problems: list[str] = field(default_factory=list)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def reproduces_speech(
    expected: Sequence[str], actual: Sequence[str], *, max_word_error_rate: float = 0.0
) -> SpeechVerdict:
    """Judge ``actual`` transcripts against the samples' ``expected`` ones (see the module docstring)."""
    if len(expected) != len(actual):
        return SpeechVerdict(False, 0.0, 1.0, [f"{len(actual)} transcripts for {len(expected)} samples"])
    same = [words(a) == words(b) for a, b in zip(expected, actual, strict=True)]
    agreement = sum(same) / len(same) if same else 1.0
    rate = word_error_rate(expected, actual)
    passed = all(same) if max_word_error_rate <= 0.0 else rate <= max_word_error_rate
    problems = []
    if not passed:
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            if not same[index]:
                problems.append(f"sample {index}: transcribed {_short(got)!r}, expected {_short(want)!r}")
        problems.append(f"word error rate {rate:.3f} (at most {max_word_error_rate:.3f})")
    return SpeechVerdict(passed, agreement, rate, problems)
