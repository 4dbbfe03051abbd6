"""Exceptions raised by :class:`maaskit.client.MaaskitClient`.

Hierarchy::

    ClientError                  any failed call; ``status`` (None without an HTTP answer) and ``message``
    ├── ConnectionFailedError    no HTTP answer after the retries (refused, reset, DNS)
    ├── AuthenticationError      401/403: missing or wrong credentials, key or token
    ├── ModelNotFoundError       404: no such model or version on this server
    ├── InvalidInputError        400/413/415/422: the request does not fit the model; fix it, don't retry
    ├── ThrottledError           429 after the retries: slow down or ask for a higher quota
    └── ServerError              5xx after the retries (502/503/504 retried, others not)

``message`` is the server's own explanation (maaskit, API Gateway and SageMaker error shapes are read).
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = [
    "AuthenticationError",
    "ClientError",
    "ConnectionFailedError",
    "InvalidInputError",
    "ModelNotFoundError",
    "ServerError",
    "ThrottledError",
    "error_for_status",
]


class ClientError(Exception):
    """A call to a maaskit endpoint failed."""

    def __init__(self, message: str, status: int | None = None, body: bytes = b"") -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.message = message
        self.status = status
        self.body = body


class ConnectionFailedError(ClientError):
    """The server could not be reached (after retries)."""


class AuthenticationError(ClientError):
    """401 or 403: check the signing region/credentials, the API key or the token."""


class ModelNotFoundError(ClientError):
    """404: no such model or version; ``MaaskitClient.models()`` lists what is served."""


class InvalidInputError(ClientError):
    """The server refused the input (400, 413, 415, 422)."""


class ThrottledError(ClientError):
    """429: too many requests (after retries)."""


class ServerError(ClientError):
    """5xx from the server or the gateway in front of it (after retries where they apply)."""


def _server_message(body: bytes) -> str:
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return text[:500] or "(empty body)"
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and "message" in error:  # maaskit JSON, TF Serving style objects
            return str(error["message"])
        if isinstance(error, str):  # OIP v2, SageMaker container, TF Serving
            return error
        for key in ("message", "Message", "detail"):  # API Gateway, AWS, FastAPI
            if key in data:
                return str(data[key])
    return str(data)[:500]


#: What an API Gateway REST API answers (403) for a method and path it does not define.
NO_ROUTE_MESSAGE = "Missing Authentication Token"


def error_for_status(status: int, body: bytes) -> ClientError:
    """The exception for an HTTP error answer, carrying the server's message."""
    message = _server_message(body)
    kind: type[ClientError]
    if status == 403 and message == NO_ROUTE_MESSAGE:  # API Gateway: the API defines no such method and path
        message = (
            f"the API has no such route ({NO_ROUTE_MESSAGE!r}): check the model name and the stage in the URL; "
            "GET /models lists the models of the stage"
        )
        kind = ModelNotFoundError
    elif status in (401, 403):
        kind = AuthenticationError
    elif status == 404:
        kind = ModelNotFoundError
    elif status in (400, 413, 415, 422):
        kind = InvalidInputError
    elif status == 429:
        kind = ThrottledError
    elif status >= 500:
        kind = ServerError
    else:
        kind = ClientError
    return kind(message, status, body)
