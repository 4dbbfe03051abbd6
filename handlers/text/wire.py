"""Raw text in each protocol's request shape, and text answers in each protocol's answer shape.

The protocol codecs call these only for text bundles (:func:`text_processor_of` is not None), so tensor
models keep their decoding untouched. What each protocol takes (and answers):

=============  ==========================================================  ===========================
protocol       texts                                                       answer per text
=============  ==========================================================  ===========================
maaskit JSON   ``{"inputs": {"text": str | [str]}, "parameters": {top_k}}``  ``predictions``
OIP v2         one BYTES input (JSON ``data`` or binary)                   the model's tensors (+ an
                                                                           ``entities`` BYTES output)
TF Serving     ``instances``: strings, ``{"text": s}`` or ``{"b64": s}``;     ``predictions`` /
               ``inputs``: a string, a list, or ``{"text": ...}``           ``outputs``
TorchServe     ``text/plain`` body (one text); JSON string, list, or        one answer, or a list
               ``{"text" | "data" | "inputs": ...}``; ``?top_k=``
SageMaker      Hugging Face inference toolkit: ``{"inputs": str | [str],   the toolkit's shapes
               "parameters": {"top_k": k}}``
=============  ==========================================================  ===========================

The answer per text is the task's: an embedding (a list of floats), ``[{"label", "score"}]`` best first
(``top_k``, default 1), or ``[{"entity_group", "score", "word", "start", "end"}]``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

from handlers.errors import InvalidInputError, UnsupportedMediaTypeError
from handlers.http import loads
from handlers.processing import Feed, Inputs, Outputs
from handlers.text.inputs import texts_from, top_k_from
from handlers.text.processor import TextProcessor

__all__ = [
    "TextRequest",
    "hf_answer",
    "hf_texts",
    "maaskit_texts",
    "oip_entities",
    "tfserving_texts",
    "torchserve_answer",
    "torchserve_texts",
]

_TEXT_MEDIA = ("text/plain", "")
_JSON_KEYS = ("text", "inputs", "data")


@dataclass(frozen=True)
class TextRequest:
    """What a text request asked for beyond its texts: top-k, whether one text came without a list."""

    top_k: int | None = 1
    single: bool = False
    top_k_given: bool = False


def _request(value: Any, parameters: Any) -> TextRequest:
    top_k = top_k_from(parameters)
    given = isinstance(parameters, dict) and "top_k" in parameters
    return TextRequest(top_k, isinstance(value, str), given)


def maaskit_texts(payload: Any) -> tuple[Inputs, TextRequest] | None:
    """``{"inputs": {"text": ...}}``; None when the body sends named tensors instead (e.g. ``input_ids``)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), dict):
        return None
    inputs = payload["inputs"]
    if "text" not in inputs:
        return None
    if len(inputs) > 1:
        others = ", ".join(sorted(set(inputs) - {"text"}))
        raise InvalidInputError(f'send either "text" or the model\'s tensors in "inputs", not both (also got {others})')
    texts = texts_from(inputs["text"], '"inputs.text"')
    return Inputs(raw=texts), _request(inputs["text"], payload.get("parameters"))


def _tf_text(item: Any, index: int) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        if set(item) == {"b64"} and isinstance(item["b64"], str):
            try:
                return base64.b64decode(item["b64"], validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise InvalidInputError(f"instance {index}: b64 is not base64 of UTF-8 text") from None
        if set(item) == {"text"}:
            return _tf_text(item["text"], index)
    raise InvalidInputError(f'instance {index} must be a string, {{"text": ...}} or {{"b64": ...}}')


def tfserving_texts(payload: dict[str, Any], rows: bool) -> tuple[Inputs, TextRequest] | None:
    """Texts of a TF Serving request (row or columnar form); None when it sends named tensors."""
    value = payload["instances"] if rows else payload["inputs"]
    if isinstance(value, dict):
        if set(value) != {"text"}:
            return None
        value = value["text"]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise InvalidInputError(f'"{"instances" if rows else "inputs"}" must be a non-empty list of texts')
    if rows and all(isinstance(item, dict) and "text" not in item and "b64" not in item for item in value):
        return None  # records of named tensors
    texts = [_tf_text(item, index) for index, item in enumerate(value)]
    return Inputs(raw=texts), _request(texts, payload.get("parameters"))


def torchserve_texts(request: Request, media: str, body: bytes) -> tuple[Inputs, TextRequest]:
    """A ``text/plain`` body is one text; JSON is a string, a list, or an object holding them."""
    parameters = {"top_k": _query_top_k(request)} if "top_k" in request.query_params else None
    if media == "text/plain" or (media == "" and body[:1] not in (b"{", b"[", b'"')):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInputError("the text/plain body is not UTF-8 text") from None
        if not text:
            raise InvalidInputError("the body is empty; send the text to classify")
        return Inputs(raw=[text]), _request(text, parameters)
    if media not in ("", "application/json") and not media.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"Content-Type {media!r} is not supported for a text model; send text/plain or application/json"
        )
    value = loads(body)
    if isinstance(value, dict):
        key = next((name for name in _JSON_KEYS if name in value), None)
        if key is None:
            raise InvalidInputError('a JSON object body needs "text", "inputs" or "data" holding the text(s)')
        value = value[key]
    return Inputs(raw=texts_from(value, "the body")), _request(value, parameters)


def _query_top_k(request: Request) -> int:
    raw = request.query_params["top_k"]
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInputError(f"top_k must be a positive whole number, got {raw!r}")
    return int(raw)


def hf_texts(media: str, body: bytes) -> tuple[Inputs, TextRequest]:
    """The Hugging Face inference toolkit's ``{"inputs": str | [str], "parameters": {...}}`` (JSON only)."""
    if media not in ("", "application/json") and not media.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"Content-Type {media!r} is not supported for a text model; "
            'send application/json: {"inputs": "text" or ["text", ...]}'
        )
    payload = loads(body)
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise InvalidInputError('the body must be {"inputs": "text" or ["text", ...], "parameters": {...}}')
    value = payload["inputs"]
    return Inputs(raw=texts_from(value, '"inputs"')), _request(value, payload.get("parameters"))


def hf_answer(processor: TextProcessor, feed: Feed, outputs: Outputs, asked: TextRequest) -> Any:
    """The toolkit pipeline's answer: vectors, ``[{"label", "score"}]`` or entity lists (shaped as the pipelines do)."""
    predictions = processor.predictions(feed, outputs, asked.top_k)
    if processor.task == "text-classification" and not asked.top_k_given:
        return [ranked[0] for ranked in predictions]  # one {"label", "score"} per text
    if asked.single and processor.task != "feature-extraction":
        return predictions[0]
    return predictions


def torchserve_answer(processor: TextProcessor, feed: Feed, outputs: Outputs, asked: TextRequest) -> Any:
    """Per text: the embedding, ``{label: score}`` best first (TorchServe's classifier shape) or the entities."""
    predictions = processor.predictions(feed, outputs, asked.top_k if asked.top_k_given else None)
    if processor.task == "text-classification":
        predictions = [{item["label"]: item["score"] for item in ranked} for ranked in predictions]
    return predictions[0] if asked.single else predictions


def oip_entities(processor: TextProcessor, feed: Feed, outputs: Outputs) -> list[bytes]:
    """Per text, its entities as a JSON document (the elements of a BYTES output)."""
    return [orjson.dumps(entities) for entities in processor.entities(feed, outputs)]
