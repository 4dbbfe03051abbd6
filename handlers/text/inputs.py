"""Raw text out of decoded request values, checked before anything is tokenized.

The text processor reads every protocol's values with these, so that "no texts", "a number where a text
belongs" and "a bad top_k" read the same everywhere (each protocol renders the InvalidInputError in its
own shape).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from handlers.errors import InvalidInputError
from handlers.vocabulary import MAX_EXAMPLES

__all__ = ["MAX_TEXTS", "decode_text_array", "is_textual", "texts_from", "texts_of", "top_k_from"]

#: Most texts in one request: a batch is padded to its longest text, so a huge batch is a memory risk.
MAX_TEXTS = MAX_EXAMPLES


def _check_count(count: int, where: str) -> None:
    if count == 0:
        raise InvalidInputError(f"{where} holds no texts; send at least one")
    if count > MAX_TEXTS:
        raise InvalidInputError(f"{where} holds {count} texts, over the limit of {MAX_TEXTS} per request; split it")


def texts_from(value: Any, where: str) -> list[str]:
    """``value`` (a string, or a list of strings) as a non-empty list of texts; ``where`` names it in errors."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise InvalidInputError(f"{where} must be a string or a list of strings, got {type(value).__name__}")
    _check_count(len(value), where)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidInputError(f"{where}[{index}] must be a string, got {type(item).__name__}")
    return list(value)


def _text(item: Any, where: str) -> str:
    if isinstance(item, dict) and set(item) == {"text"}:
        item = item["text"]
    if isinstance(item, bytes):
        try:
            return item.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInputError(f"{where} is not UTF-8 text") from None
    if not isinstance(item, str):
        raise InvalidInputError(f"{where} must be a string, got {type(item).__name__}")
    return item


def is_textual(value: Any) -> bool:
    """Whether ``value`` reads as texts: a string or bytes, or a list of them (or of ``{"text": ...}``)."""
    items = value if isinstance(value, list) else [value]
    return bool(items) and all(
        isinstance(item, str | bytes) or (isinstance(item, dict) and set(item) == {"text"}) for item in items
    )


def texts_of(value: Any, where: str) -> tuple[list[str], bool]:
    """``value`` (a text, UTF-8 bytes, ``{"text": ...}``, or a list of them) as texts, and whether it was one alone."""
    if isinstance(value, str | bytes) or (isinstance(value, dict) and set(value) == {"text"}):
        return [_text(value, where)], True
    if not isinstance(value, list):
        raise InvalidInputError(f"{where} must be a string or a list of strings, got {type(value).__name__}")
    _check_count(len(value), where)
    return [_text(item, f"{where}[{index}]") for index, item in enumerate(value)], False


def decode_text_array(array: np.ndarray, where: str) -> list[str]:
    """A BYTES/string tensor (any shape, flattened row-major) as texts; bytes must be UTF-8."""
    texts: list[str] = []
    for index, item in enumerate(array.reshape(-1).tolist()):
        text = item
        if isinstance(item, bytes):
            try:
                text = item.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInputError(f"{where} element {index} is not UTF-8 text") from None
        if not isinstance(text, str):
            raise InvalidInputError(f"{where} element {index} must be text, got {type(text).__name__}")
        texts.append(text)
    _check_count(len(texts), where)
    return texts


def top_k_from(parameters: Any, default: int | None = 1) -> int | None:
    """``parameters["top_k"]`` (a positive whole number, or null for every label); ``default`` when absent."""
    if parameters is None:
        return default
    if not isinstance(parameters, Mapping):
        raise InvalidInputError('"parameters" must be an object, e.g. {"top_k": 3}')
    if "top_k" not in parameters:
        return default
    top_k = parameters["top_k"]
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise InvalidInputError(f"top_k must be a positive whole number (or null for every label), got {top_k!r}")
    return top_k
