"""Chat and text completions of generative models, streamed token by token or answered whole.

The routes are OpenAI's under each model's own base URL, ``/models/<m>/v1/chat/completions`` and
``/models/<m>/v1/completions``: the deployed API (API Gateway streaming), a streaming Function URL and
``maaskit serve`` all answer them. A stream is server-sent events (``data: <json>``, then ``data: [DONE]``);
:class:`SSEDecoder` re-buffers events split across network reads or SageMaker ``PayloadPart``\\ s, so
:func:`sagemaker_stream` reads ``InvokeEndpointWithResponseStream`` with the same code. A ``data:
{"error": ...}`` event (a failure after the first token) raises :class:`~maaskit.client.errors.ServerError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx
import orjson

from maaskit.client.errors import ClientError, ConnectionFailedError, ServerError, error_for_status
from maaskit.client.retry import RETRY_EXCEPTIONS, RETRY_STATUSES, Backoff

__all__ = ["ChatMixin", "SSEDecoder", "TokenStream", "completion_body", "sagemaker_stream"]

Message = Mapping[str, Any]


class SSEDecoder:
    """Server-sent events from byte chunks cut anywhere (inside an event, a line or a UTF-8 character)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[str]:
        """The ``data`` of every event completed by ``chunk`` (multi-line data joined with newlines)."""
        self._buffer += chunk.replace(b"\r\n", b"\n")
        events: list[str] = []
        while b"\n\n" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\n\n", 1)
            lines = [line[5:].lstrip(b" ") for line in raw.split(b"\n") if line.startswith(b"data:")]
            if lines:
                events.append(b"\n".join(lines).decode("utf-8"))
        return events

    def close(self) -> list[str]:
        """An event left without its blank line when the stream ended."""
        rest, self._buffer = self._buffer, b""
        return self.feed(rest + b"\n\n") if rest.strip() else []


class TokenStream:
    """Iterates the text deltas of a streamed completion; then ``text``, ``finish_reason``, ``usage`` and
    ``chunks`` (every decoded chunk) describe the whole answer. ``close()`` stops reading (the server stops
    generating when the connection goes)."""

    def __init__(self, events: Iterator[str], close: Callable[[], None] = lambda: None) -> None:
        self._events = events
        self._close = close
        self.pieces: list[str] = []
        self.chunks: list[dict[str, Any]] = []
        self.finish_reason: str | None = None
        self.usage: dict[str, int] | None = None

    @property
    def text(self) -> str:
        """The text received so far."""
        return "".join(self.pieces)

    def __iter__(self) -> Iterator[str]:
        try:
            for data in self._events:
                if data.strip() == "[DONE]":
                    return
                chunk = orjson.loads(data)
                if isinstance(chunk, dict) and "error" in chunk:
                    error = chunk["error"] or {}
                    raise ServerError(f"the generation failed mid-stream: {error.get('message', error)}", 500)
                self.chunks.append(chunk)
                self.usage = chunk.get("usage") or self.usage
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta", {}).get("content") if "delta" in choice else choice.get("text")
                    self.finish_reason = choice.get("finish_reason") or self.finish_reason
                    if delta:
                        self.pieces.append(delta)
                        yield delta
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading the stream."""
        self._close()


def completion_body(model: str, chat: bool, content: Any, stream: bool, params: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAI request body; ``None`` parameters are left out (the model's defaults apply)."""
    body: dict[str, Any] = {"model": model, "stream": stream}
    body["messages" if chat else "prompt"] = list(content) if chat else content
    if stream:
        body["stream_options"] = {"include_usage": True}
    body.update({key: value for key, value in params.items() if value is not None})
    return body


def sagemaker_stream(runtime: Any, endpoint: str, body: Mapping[str, Any], **invoke: Any) -> TokenStream:
    """A streamed completion from a SageMaker endpoint (boto3 ``sagemaker-runtime`` client ``runtime``).

    ``InvokeEndpointWithResponseStream`` delivers ``PayloadPart``\\ s that may cut an event anywhere: they are
    re-buffered into whole events. ``invoke``: more arguments of the call (e.g. ``TargetVariant``).
    """
    answer = runtime.invoke_endpoint_with_response_stream(
        EndpointName=endpoint, Body=orjson.dumps(dict(body)), ContentType="application/json",
        Accept="text/event-stream", **invoke,
    )  # fmt: skip
    stream = answer["Body"]

    def events() -> Iterator[str]:
        decoder = SSEDecoder()
        for event in stream:
            if "PayloadPart" in event:
                yield from decoder.feed(event["PayloadPart"]["Bytes"])
            for failure in ("ModelStreamError", "InternalStreamFailure"):
                if failure in event:
                    raise ServerError(f"SageMaker stream failed: {event[failure].get('Message', failure)}", 500)
        yield from decoder.close()

    return TokenStream(events(), getattr(stream, "close", lambda: None))


class ChatMixin:
    """``chat()`` and ``complete()`` for :class:`~maaskit.client.MaaskitClient` (uses its connection pool,
    retries and backoff)."""

    _http: httpx.Client
    retries: int
    backoff: Backoff
    _sleep: Callable[[float], None]

    def chat(
        self, model: str, messages: Sequence[Message], *, stream: bool = False, max_tokens: int | None = None,
        temperature: float | None = None, **params: Any,
    ) -> Any:  # fmt: skip
        """A chat completion: the OpenAI answer (dict), or with ``stream=True`` a :class:`TokenStream`."""
        return self._complete(
            model, True, messages, stream, {"max_tokens": max_tokens, "temperature": temperature, **params}
        )

    def complete(
        self, model: str, prompt: str, *, stream: bool = False, max_tokens: int | None = None,
        temperature: float | None = None, **params: Any,
    ) -> Any:  # fmt: skip
        """A text completion: the OpenAI answer (dict), or with ``stream=True`` a :class:`TokenStream`."""
        return self._complete(
            model, False, prompt, stream, {"max_tokens": max_tokens, "temperature": temperature, **params}
        )

    def _complete(self, model: str, chat: bool, content: Any, stream: bool, params: Mapping[str, Any]) -> Any:
        path = f"/models/{model}/v1/{'chat/completions' if chat else 'completions'}"
        body = orjson.dumps(completion_body(model, chat, content, stream, params))
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}
        response = self._open(path, body, headers)
        if not stream:
            try:
                content_bytes = response.read()
            finally:
                response.close()
            return orjson.loads(content_bytes)

        def events() -> Iterator[str]:
            decoder = SSEDecoder()
            for chunk in response.iter_raw():
                yield from decoder.feed(chunk)
            yield from decoder.close()

        return TokenStream(events(), response.close)

    def _open(self, path: str, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """Send and return the open response once its status is a success (retrying before any token)."""
        attempt = 0
        while True:
            request = self._http.build_request("POST", path, content=body, headers=headers)
            try:
                response = self._http.send(request, stream=True)
            except RETRY_EXCEPTIONS as exc:
                if attempt >= self.retries:
                    raise ConnectionFailedError(
                        f"cannot reach {request.url} after {attempt + 1} tries: {exc!r}"
                    ) from None
            except httpx.TimeoutException as exc:
                raise ClientError(f"POST {path} timed out ({exc!r}); raise the client timeout") from None
            else:
                if response.status_code < 400:
                    return response
                content = response.read()
                response.close()
                if response.status_code not in RETRY_STATUSES or attempt >= self.retries:
                    raise error_for_status(response.status_code, content)
            self._sleep(self.backoff.delay(attempt))
            attempt += 1
