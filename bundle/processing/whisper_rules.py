"""Whisper's per-step token rules and choice, as transformers' ``generate`` applies them.

``begin_suppress_tokens`` at the first step, ``suppress_tokens`` always; with timestamps, the timestamp
rules (pairs, never decreasing, the first one a timestamp at most ``max_initial_timestamp_index``, a
timestamp whenever their total probability beats every text token). The token is then the best one,
or one drawn at a temperature.
"""

from __future__ import annotations

import numpy as np

from bundle.speech import WhisperSpec

__all__ = ["apply_rules", "choose_token", "logsumexp"]

_NEG = np.float32(-np.inf)


def logsumexp(values: np.ndarray) -> float:
    """log(sum(exp(values))) over the finite values (-inf when there are none)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("-inf")
    top = float(finite.max())
    return top + float(np.log(np.sum(np.exp(finite - top))))


def choose_token(scores: np.ndarray, temperature: float, rng: np.random.Generator | None) -> int:
    """The next token: the best one at temperature 0, else one drawn from softmax(scores / temperature)."""
    if temperature <= 0.0 or rng is None:
        return int(np.argmax(scores))
    allowed = np.flatnonzero(np.isfinite(scores))
    scaled = scores[allowed].astype(np.float64) / temperature
    weights = np.exp(scaled - scaled.max())
    return int(allowed[rng.choice(allowed.size, p=weights / weights.sum())])


def apply_rules(spec: WhisperSpec, logits: np.ndarray, generated: list[int], timestamps: bool) -> np.ndarray:
    """The step's scores: ``logits`` with every token the rules forbid at -inf (see the module docstring)."""
    scores = logits.copy()
    if not generated and spec.begin_suppress_tokens:
        scores[spec.begin_suppress_tokens] = _NEG
    if spec.suppress_tokens:
        scores[spec.suppress_tokens] = _NEG
    if not timestamps:
        return scores
    begin = spec.timestamp_begin
    scores[spec.no_timestamps_token_id] = _NEG
    last = len(generated) >= 1 and generated[-1] >= begin
    penultimate = len(generated) < 2 or generated[-2] >= begin
    if last:
        if penultimate:
            scores[begin:] = _NEG
        else:
            scores[: spec.eos_token_id] = _NEG
    stamps = [token for token in generated if token >= begin]
    if stamps:
        floor = stamps[-1] if last and not penultimate else stamps[-1] + 1
        scores[begin:floor] = _NEG
    if not generated:
        scores[:begin] = _NEG
        if spec.max_initial_timestamp_index is not None:
            scores[begin + spec.max_initial_timestamp_index + 1 :] = _NEG
    shifted = scores.astype(np.float64) - np.max(scores)
    logprobs = shifted - np.log(np.sum(np.exp(shifted)))
    tail = logprobs[begin:]
    finite = tail[np.isfinite(tail)]
    stamp_logprob = np.log(np.sum(np.exp(finite - finite.max()))) + finite.max() if finite.size else -np.inf
    if stamp_logprob > np.max(logprobs[:begin]):
        scores[:begin] = _NEG
    return scores
