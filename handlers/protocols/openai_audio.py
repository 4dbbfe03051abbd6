"""OpenAI-compatible speech to text: ``POST /v1/audio/transcriptions`` and ``POST /v1/audio/translations``.

Bodies, answers and errors follow the OpenAI API reference, so the official ``openai`` client
(``client.audio.transcriptions.create``) works unchanged. The body is ``multipart/form-data``: ``file``
(WAV, FLAC, OGG/Opus or MP3), ``model`` (a loaded speech bundle, or ``name-version``), and optionally
``language`` (ISO-639-1), ``prompt`` (Whisper: earlier text that conditions the first window),
``temperature`` (0 to 1: 0 greedy, above it sampled), ``response_format`` (``json``, ``text``, ``srt``, ``vtt``,
``verbose_json``) and ``timestamp_granularities[]`` (``segment``). ``srt``, ``vtt`` and ``verbose_json``
decode Whisper with timestamps, so segments carry their times. Errors are OpenAI's
``{"error": {"message", "type", "param", "code"}}``: a corrupt or empty file is a 400, an m4a/mp4/webm a
415, a file over the limit a 413. Every speech model is also a base URL of its own, ``/models/{name}/v1``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from handlers.engine import ModelRepository, ModelRuntime
from handlers.errors import InvalidInputError, UnsupportedMediaTypeError
from handlers.http import json_response
from handlers.protocols.base import Call, Codec, Decoded, Result, inference_endpoint
from handlers.protocols.openai import OpenAIParameterError, error_shape, openai_model
from handlers.routing import RouteTable
from handlers.settings import Settings
from handlers.speech.formats import FORMATS, LANGUAGE_NAMES, srt, vtt
from handlers.vocabulary import Inputs

__all__ = ["PROTOCOL", "router"]

PROTOCOL = "openai"
SPEECH_TASK = "automatic-speech-recognition"
_FIELDS = (
    "model",
    "language",
    "prompt",
    "temperature",
    "response_format",
    "timestamp_granularities[]",
    "timestamp_granularities",
    "chunking_strategy",
    "include[]",
    "stream",
)


@dataclass(frozen=True)
class _Form:
    fields: dict[str, list[str]]
    file: bytes | None
    filename: str | None

    def one(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else None


def parse_form(body: bytes, content_type: str) -> _Form:
    """A ``multipart/form-data`` body's text fields and its ``file`` (400 when it is not one)."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaTypeError(
            "send multipart/form-data with the audio as 'file' and the model as 'model' (as the openai client does)"
        )
    parts: list[tuple[dict[str, bytes], bytearray]] = []
    state: dict[str, Any] = {"field": b"", "value": b""}

    def begin() -> None:
        parts.append(({}, bytearray()))

    def header_end() -> None:
        parts[-1][0][state["field"].lower().decode("latin-1")] = state["value"]
        state.update(field=b"", value=b"")

    callbacks = {
        "on_part_begin": begin,
        "on_header_field": lambda data, start, end: state.__setitem__("field", state["field"] + data[start:end]),
        "on_header_value": lambda data, start, end: state.__setitem__("value", state["value"] + data[start:end]),
        "on_header_end": header_end,
        "on_part_data": lambda data, start, end: parts[-1][1].extend(data[start:end]),
    }
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        parser.write(body)
        parser.finalize()
    except Exception as exc:  # python-multipart's MultipartParseError and friends
        raise InvalidInputError(f"the multipart body cannot be parsed ({exc}): send multipart/form-data") from None
    fields: dict[str, list[str]] = {}
    file: bytes | None = None
    filename: str | None = None
    for headers, data in parts:
        _, disposition = parse_options_header(headers.get("content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        if name == "file":
            file, filename = bytes(data), disposition.get(b"filename", b"").decode("utf-8", "replace") or None
        elif name:
            fields.setdefault(name, []).append(bytes(data).decode("utf-8", "replace"))
    return _Form(fields, file, filename)


def _form(call: Call, body: bytes) -> _Form:
    cached = getattr(call.request.state, "audio_form", None)
    if cached is None:
        cached = parse_form(body, call.request.headers.get("content-type", ""))
        call.request.state.audio_form = cached
    return cached


def _runtime(repository: ModelRepository, request: Request, model: str | None) -> ModelRuntime:
    runtime = openai_model(repository, request, model, "speech")
    if runtime.manifest.task != SPEECH_TASK:
        raise OpenAIParameterError(
            f"model {runtime.name} does not transcribe audio (task {runtime.manifest.task}); "
            "/v1/audio/transcriptions serves automatic-speech-recognition bundles",
            "model",
            "model_not_supported",
        )
    return runtime


@dataclass(frozen=True)
class _State:
    format: str
    task: str


class Transcriptions(Codec[_State]):
    """OpenAI audio: multipart ``file`` and ``model`` -> the transcript in ``response_format``."""

    def __init__(self, task: str = "transcribe") -> None:
        self.task = task

    async def resolve(self, call: Call) -> ModelRuntime:
        """The model the form's ``model`` field names (the body is read and parsed once)."""
        form = _form(call, await call.body())
        return _runtime(call.repository, call.request, form.one("model"))

    def decode(self, request: Request, runtime: ModelRuntime, body: bytes) -> Decoded[_State]:
        """The file as a raw example, the options checked (400 naming the bad one)."""
        form: _Form = request.state.audio_form
        if form.file is None:
            raise OpenAIParameterError("file is required: the audio file (WAV, FLAC, OGG/Opus, MP3)", "file")
        response_format = form.one("response_format") or "json"
        if response_format not in FORMATS:
            raise OpenAIParameterError(
                f"response_format must be one of {', '.join(FORMATS)}, not {response_format!r}", "response_format"
            )
        granularities = form.fields.get("timestamp_granularities[]", []) + form.fields.get(
            "timestamp_granularities", []
        )
        if any(g != "segment" for g in granularities):
            raise OpenAIParameterError(
                "timestamp_granularities supports 'segment' only (no word timestamps)", "timestamp_granularities"
            )
        if (form.one("stream") or "false").lower() == "true":
            raise OpenAIParameterError("streamed transcriptions are not served: leave stream out", "stream")
        options = {
            "language": form.one("language"),
            "prompt": form.one("prompt"),
            "temperature": form.one("temperature"),
            "timestamps": response_format in ("srt", "vtt", "verbose_json") or bool(granularities),
            "logprobs": response_format == "verbose_json",  # its segments report avg_logprob
            "task": self.task,
        }
        return Decoded(Inputs(raw=form.file, options=options, where="file"), _State(response_format, self.task))

    def encode(self, result: Result[_State]) -> Response:
        """The transcript in the asked ``response_format``."""
        document = json.loads(str(result.outputs["transcript"][0]))
        text = str(document["text"]).strip()
        segments = document["segments"]
        kind = result.state.format
        if kind == "text":
            return PlainTextResponse(text + "\n")
        if kind == "srt":
            return PlainTextResponse(srt(segments))
        if kind == "vtt":
            return PlainTextResponse(vtt(segments), media_type="text/vtt")
        usage = {"type": "duration", "seconds": math.ceil(document["duration"])}
        if kind == "json":
            return json_response({"text": text, "usage": usage})
        language = document.get("language")
        return json_response(
            {
                "task": result.state.task,
                "language": LANGUAGE_NAMES.get(language or "", language or "unknown"),
                "duration": round(float(document["duration"]), 3),
                "text": text,
                "usage": usage,
                "segments": [
                    {
                        "id": i,
                        "seek": int(s["start"] * 100),
                        "start": round(s["start"], 3),
                        "end": round(s["end"], 3),
                        "text": s["text"],
                        "tokens": s["tokens"],
                        "temperature": s.get("temperature", 0.0),
                        "avg_logprob": round(s.get("avg_logprob") or 0.0, 6),
                        "compression_ratio": round(s.get("compression_ratio", 0.0), 6),
                        "no_speech_prob": round(s.get("no_speech_prob", 0.0), 6),
                    }
                    for i, s in enumerate(segments)
                ],
            }
        )


def router(repository: ModelRepository, settings: Settings) -> RouteTable:
    """``POST /v1/audio/transcriptions`` and ``/v1/audio/translations``, also under ``/models/{name}/v1``."""
    api = RouteTable(PROTOCOL, error_shape, prefixes=("/v1/audio",), tags=["openai"])
    api.post("/v1/audio/transcriptions", "/models/{name}/v1/audio/transcriptions")(
        inference_endpoint(Transcriptions(), repository, settings)
    )
    translate = inference_endpoint(Transcriptions("translate"), repository, settings)
    translate.__name__ = translate.__qualname__ = "translations"
    api.post("/v1/audio/translations", "/models/{name}/v1/audio/translations")(translate)
    return api
