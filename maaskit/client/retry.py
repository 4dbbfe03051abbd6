"""When and how long to wait before retrying: exponential backoff with full jitter.

Retried: HTTP 429, 502, 503, 504 and failures to connect or to get an answer on a connection
(refused, reset, closed early). Never retried: any other status (a 400 stays a 400), and read
timeouts (the server may still be working on the request).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

__all__ = ["RETRY_EXCEPTIONS", "RETRY_STATUSES", "Backoff"]

RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
    httpx.PoolTimeout,
)


@dataclass(frozen=True)
class Backoff:
    """Delay before retry ``attempt`` (0-based): uniform in [0, min(cap, base * 2**attempt)].

    A ``Retry-After`` of a few seconds from the server is honoured (never above ``cap``).
    """

    base: float = 0.1
    cap: float = 5.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to sleep before the next try."""
        if retry_after is not None:
            try:
                return min(self.cap, max(0.0, float(retry_after)))
            except ValueError:
                pass  # an HTTP date: fall back to jitter
        return random.uniform(0.0, min(self.cap, self.base * 2**attempt))  # jitter, not cryptography
