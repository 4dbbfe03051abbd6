"""Whisper's per-step token rules and choice, as transformers' ``generate`` applies them.

``begin_suppress_tokens`` at the first step, ``suppress_tokens`` always; with timestamps, the timestamp
rules (pairs, never decreasing, the first one a timestamp at most ``max_initial_timestamp_index``, a
timestamp whenever their total probability beats every text token). The token is then the best one,
or one drawn at a temperature.
"""

from __future__ import annotations

import numpy as np

from bundle.speech import WhisperSpec

__all__ = ["apply_rules", "choose_token", "forbidden", "logsumexp", "stamps_win"]

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


def forbidden(spec: WhisperSpec, vocab: int, generated: list[int], timestamps: bool) -> np.ndarray:
    """[vocab] True for every token the rules forbid at this step, whatever the logits (all but the last rule)."""
    mask = np.zeros(vocab, dtype=bool)
    if not generated and spec.begin_suppress_tokens:
        mask[spec.begin_suppress_tokens] = True
    if spec.suppress_tokens:
        mask[spec.suppress_tokens] = True
    if not timestamps:
        return mask
    begin = spec.timestamp_begin
    mask[spec.no_timestamps_token_id] = True
    last = len(generated) >= 1 and generated[-1] >= begin
    penultimate = len(generated) < 2 or generated[-2] >= begin
    if last:
        if penultimate:
            mask[begin:] = True
        else:
            mask[: spec.eos_token_id] = True
    stamps = [token for token in generated if token >= begin]
    if stamps:
        floor = stamps[-1] if last and not penultimate else stamps[-1] + 1
        mask[begin:floor] = True
    if not generated:
        mask[:begin] = True
        if spec.max_initial_timestamp_index is not None:
            mask[begin + spec.max_initial_timestamp_index + 1 :] = True
    return mask


def stamps_win(stamp_scores: np.ndarray, best_text: float) -> bool:
    """The last rule: the timestamps' total probability beats every text token's (then text is forbidden).

    Compared as ``logsumexp(stamp scores) > max(text scores)``: transformers compares both after the
    same log-softmax, whose normaliser cancels.
    """
    return logsumexp(stamp_scores.astype(np.float64)) > best_text


def apply_rules(spec: WhisperSpec, logits: np.ndarray, generated: list[int], timestamps: bool) -> np.ndarray:
    """The step's scores: ``logits`` with every token the rules forbid at -inf (see the module docstring)."""
    scores: np.ndarray = np.where(forbidden(spec, logits.size, generated, timestamps), _NEG, logits)
    begin = spec.timestamp_begin
    if timestamps and stamps_win(scores[begin:], float(np.max(scores[:begin]))):
        scores[:begin] = _NEG
    return scores
