"""Errors of the generation path (each carries its HTTP status)."""

from __future__ import annotations

from bundle import BundleError
from handlers.errors import ServingError

__all__ = ["GenerationWarmupError", "QueueFullError"]


class QueueFullError(ServingError):
    """The admission queue is full (429): retry after ``retry_after`` seconds."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.code = "rate_limit_exceeded"


class GenerationWarmupError(BundleError):
    """The bundle did not reproduce its golden continuation (or its tokens) at warm-up: it is not served."""
