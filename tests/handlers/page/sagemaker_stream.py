"""SageMaker's ``InvokeEndpointWithResponseStream`` emulated for snippet tests: botocore, unchanged, reads
``PayloadPart`` events in the AWS event-stream binary framing, as the SageMaker runtime sends them.

A prelude (Python source put before a snippet) registers a ``before-send`` hook that answers the call
locally: with a fixed Hugging Face TGI-shaped stream (:func:`sagemaker_tgi_prelude`), or with this
server's own ``/invocations`` stream (:func:`sagemaker_stream_prelude`). Either way the bytes are cut
into parts at odd places, so a part may end inside an event, as SageMaker's may: clients must re-buffer.
"""

from __future__ import annotations

import json
import textwrap

__all__ = ["TGI_EVENTS", "TGI_TEXT", "sagemaker_stream_prelude", "sagemaker_tgi_prelude"]


def _token(index: int, text: str, special: bool = False, generated: str | None = None) -> bytes:
    token = {"id": index + 100, "text": text, "logprob": -0.5, "special": special}
    event = {"index": index, "token": token, "top_tokens": None, "generated_text": generated, "details": None}
    return b"data:" + json.dumps(event).encode() + b"\n\n"


#: Text generation inference's stream: one event per token, the last (special) one with the whole text.
TGI_TEXT = "Once upon a time, a dragon baked bread."
_PIECES = ["Once", " upon", " a", " time", ",", " a", " dragon", " baked", " bread", "."]
TGI_EVENTS = b"".join(_token(i, piece) for i, piece in enumerate(_PIECES)) + _token(
    len(_PIECES), "</s>", special=True, generated=TGI_TEXT
)

#: Frames bytes as event-stream PayloadPart messages (prelude, headers, payload, CRC32s; big-endian).
_FRAMING = textwrap.dedent(
    """
    import struct, zlib
    from botocore.awsrequest import AWSResponse

    def _header(name, value):
        return bytes([len(name)]) + name.encode() + b"\\x07" + struct.pack(">H", len(value)) + value.encode()

    def _message(payload):
        headers = (_header(":event-type", "PayloadPart") + _header(":content-type", "application/octet-stream")
                   + _header(":message-type", "event"))
        prelude = struct.pack(">II", 16 + len(headers) + len(payload), len(headers))
        head = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + payload
        return head + struct.pack(">I", zlib.crc32(head))

    class _Raw:  # what urllib3 gives botocore: stream() yields the body as it arrives
        def __init__(self, parts):
            self.parts = parts
        def stream(self, **_):
            for part in self.parts:
                framed = _message(part)
                yield framed[:7]  # even a message's own bytes may arrive in pieces
                yield framed[7:]
        def close(self):
            pass

    def _odd_cuts(chunks):  # PayloadParts that split events: 5, 13, 5, 13, ... bytes
        pending, sizes, turn = b"", (5, 13), 0
        for chunk in chunks:
            pending += chunk
            while len(pending) >= sizes[turn % 2]:
                yield pending[: sizes[turn % 2]]
                pending, turn = pending[sizes[turn % 2] :], turn + 1
        if pending:
            yield pending

    def _answer(request, chunks):
        headers = {"Content-Type": "application/vnd.amazon.eventstream",
                   "X-Amzn-SageMaker-Content-Type": "text/event-stream"}
        return AWSResponse(request.url, 200, headers, _Raw(_odd_cuts(chunks)))
    """
)


def _register(sender: str) -> str:
    return textwrap.dedent(
        f"""
        import boto3
        boto3.setup_default_session(region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
        boto3.DEFAULT_SESSION.events.register(
            "before-send.sagemaker-runtime.InvokeEndpointWithResponseStream", {sender}
        )
        """
    )


def sagemaker_tgi_prelude(events: bytes) -> str:
    """Source that makes the next ``invoke_endpoint_with_response_stream`` answer ``events`` (TGI's SSE)."""
    send = textwrap.dedent(
        f"""
        def _send(request, **_):
            assert request.url.endswith("/invocations-response-stream"), request.url
            return _answer(request, [{events!r}])
        """
    )
    return _FRAMING + send + _register("_send")


def sagemaker_stream_prelude(url: str) -> str:
    """Source that sends the next ``invoke_endpoint_with_response_stream`` to ``url``'s ``/invocations``.

    One SageMaker endpoint serves one model: the endpoint name (``maaskit-<stage>-NAME``) says which.
    """
    send = textwrap.dedent(
        f"""
        import httpx
        from urllib.parse import unquote

        def _send(request, **_):
            endpoint = unquote(request.url.split("/endpoints/")[1].split("/")[0])
            headers = {{"Content-Type": request.headers["Content-Type"],
                        "Accept": request.headers.get("X-Amzn-SageMaker-Accept", "*/*"),
                        "X-Maaskit-Model": endpoint.removeprefix("maaskit-<stage>-")}}
            client = httpx.Client(timeout=60)
            response = client.send(
                client.build_request("POST", {url!r} + "/invocations", content=request.body, headers=headers),
                stream=True,
            )
            assert response.status_code == 200, response.read()
            return _answer(request, response.iter_raw())
        """
    )
    return _FRAMING + send + _register("_send")
