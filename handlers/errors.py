"""Errors raised while serving a request; each carries its HTTP status.

Hierarchy::

    ServingError                    anything that ends a request early (status 500 unless overridden)
    ├── ModelNotFoundError     404  no model with that name is loaded
    │   └── VersionNotFoundError 404  the model exists but not that version
    ├── InvalidInputError      400  malformed body, missing/unknown input, wrong dtype/rank/shape, NaN
    ├── RequestTimeoutError    408  the body arrived slower than the server's minimum rate
    ├── PayloadTooLargeError   413  body (or answer) over the target's limit
    ├── UnsupportedMediaTypeError 415  Content-Type not understood by this route
    ├── NotAcceptableError     406  Accept asks for a type the route cannot produce
    ├── ModelExecutionError    422  onnxruntime refused input that passed validation
    ├── RouteNotFoundError     404  no route has that path
    ├── MethodNotAllowedError  405  the path exists, not with that method
    ├── ModelNotReadyError     503  models are still loading or warming up
    ├── InferenceTimeoutError  504  the run took longer than the inference budget (MAASKIT_INFERENCE_TIMEOUT_MS)
    └── InternalServerError    500  anything unexpected (the message names the request id; the log has the rest)

Each protocol's route table renders these in that protocol's error shape (see
:mod:`handlers.protocols`); the status stays the same. Errors raised outside the routes (request
limits, unknown routes, unexpected exceptions) take the route's protocol shape too
(:class:`handlers.routing.RouteErrors`).
"""

from __future__ import annotations

__all__ = [
    "InferenceTimeoutError",
    "InternalServerError",
    "InvalidInputError",
    "MethodNotAllowedError",
    "ModelExecutionError",
    "ModelNotFoundError",
    "ModelNotReadyError",
    "NotAcceptableError",
    "PayloadTooLargeError",
    "RequestTimeoutError",
    "RouteNotFoundError",
    "ServingError",
    "UnsupportedMediaTypeError",
    "VersionNotFoundError",
]


class ServingError(Exception):
    """Base class; ``status`` is the HTTP status code the request gets."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ModelNotFoundError(ServingError):
    """No model with that name is loaded."""

    status = 404


class VersionNotFoundError(ModelNotFoundError):
    """The model is loaded but not at the requested version."""


class InvalidInputError(ServingError):
    """The request does not match the model's signature or is not well-formed."""

    status = 400


class RequestTimeoutError(ServingError):
    """The request body did not arrive in time (MAASKIT_BODY_TIMEOUT_S, MAASKIT_BODY_MIN_RATE)."""

    status = 408


class PayloadTooLargeError(ServingError):
    """The request body is larger than the configured limit."""

    status = 413


class UnsupportedMediaTypeError(ServingError):
    """The request's Content-Type is not one this route reads."""

    status = 415


class NotAcceptableError(ServingError):
    """The request's Accept header names no type this route writes."""

    status = 406


class ModelExecutionError(ServingError):
    """onnxruntime rejected an input that passed validation (message trimmed from ORT's)."""

    status = 422


class RouteNotFoundError(ServingError):
    """No route of this server has the request's path."""

    status = 404


class MethodNotAllowedError(ServingError):
    """The path is served, but not with the request's method."""

    status = 405


class ModelNotReadyError(ServingError):
    """The model is not loaded and warmed up yet."""

    status = 503


class InferenceTimeoutError(ServingError):
    """The model run exceeded the per-request inference budget and was stopped."""

    status = 504


class InternalServerError(ServingError):
    """Something unexpected failed; the answer names the request id, the server log has the traceback."""

    status = 500
