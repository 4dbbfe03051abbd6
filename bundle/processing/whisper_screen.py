"""The greedy token from a screened decoder step, proven equal to the one the full logits give.

A screened step (``full_logits`` false, see :mod:`model_packager.speech.screen`) gives the exact logits
of a few candidate text tokens, of every timestamp token, and an upper bound (``rest_upper``) on every
other text token's logit. :func:`screened_token` applies the same rules as
:func:`~bundle.processing.whisper_rules.apply_rules` and returns the token only when those numbers
decide it; otherwise ``None``, and the caller reruns the step with the full logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bundle.processing.whisper_rules import forbidden, stamps_win
from bundle.speech import WhisperSpec

__all__ = ["SCREEN_OUTPUTS", "ScreenedStep", "screened_token"]

#: A screened step's outputs, in this order (the graph is :mod:`model_packager.speech.screen`).
SCREEN_OUTPUTS = ("candidate_ids", "candidate_logits", "rest_upper", "stamp_logits")


@dataclass(frozen=True)
class ScreenedStep:
    """What a screened decoder step gives (one token, batch 1)."""

    ids: np.ndarray
    """[candidates] text tokens with the highest upper bounds."""
    logits: np.ndarray
    """[candidates] their exact logits."""
    rest_upper: float
    """No other text token's logit is above this."""
    stamps: np.ndarray
    """[vocab - timestamp_begin] exact logits of the timestamp tokens."""


def screened_token(spec: WhisperSpec, step: ScreenedStep, generated: list[int], timestamps: bool) -> int | None:
    """The token greedy decoding picks from the full logits, or ``None`` when this step cannot prove it."""
    begin = spec.timestamp_begin
    mask = forbidden(spec, begin + step.stamps.size, generated, timestamps)
    allowed = ~mask[step.ids]
    text_ids, text_logits = step.ids[allowed], step.logits[allowed]
    best = int(np.argmax(text_logits)) if text_logits.size else -1
    best_text = float(text_logits[best]) if text_logits.size else float("-inf")
    stamps = np.where(mask[begin:], np.float32(-np.inf), step.stamps)
    if mask[:begin].all():  # no text token is allowed at all
        text_known, best_text = True, float("-inf")
    else:
        text_known = best_text > step.rest_upper  # every text token outside the candidates is below it
    # the last rule; where the text maximum is known exactly, max(best_text, rest_upper) is that maximum
    text_closed = timestamps and stamps_win(stamps, max(best_text, step.rest_upper))
    if not (text_closed or text_known):
        return None
    if text_closed or best_text == float("-inf"):
        return begin + int(np.argmax(stamps)) if np.isfinite(stamps).any() else None
    best_stamp = float(stamps.max()) if stamps.size else float("-inf")
    return int(text_ids[best]) if best_text >= best_stamp else begin + int(np.argmax(stamps))
