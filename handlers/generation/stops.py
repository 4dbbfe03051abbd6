"""Stop strings: text is held back while it could still be the start of a stop string."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["StopMatcher"]


class StopMatcher:
    """Feed decoded pieces; get the text that is safe to send, and whether a stop string was reached.

    Text that ends with a prefix of any stop string is held back until the next piece decides it; the
    stop string itself is never sent (as OpenAI does).
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(stop for stop in stops if stop)
        self._pending = ""

    def feed(self, piece: str) -> tuple[str, bool]:
        """(text to send now, True when a stop string was reached: send nothing more)."""
        if not self.stops:
            return piece, False
        pending = self._pending + piece
        hits = [index for stop in self.stops if (index := pending.find(stop)) >= 0]
        if hits:
            self._pending = ""
            return pending[: min(hits)], True
        held = max((size for stop in self.stops for size in range(1, len(stop)) if pending.endswith(stop[:size])),
                   default=0)  # fmt: skip
        self._pending = pending[len(pending) - held :] if held else ""
        return pending[: len(pending) - held], False

    def flush(self) -> str:
        """What was held back, once generation ended for another reason."""
        pending, self._pending = self._pending, ""
        return pending
