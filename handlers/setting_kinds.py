"""How a setting's text is read: one parser per kind (whole number, seconds, milliseconds, flag, ...).

Each parser takes ``(text, source, low, high)`` and returns the value or raises
:class:`SettingsError` naming ``source`` (the variable), the value refused and what to set instead.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

__all__ = ["KINDS", "SettingsError", "provider_name"]


class SettingsError(ValueError):
    """An environment variable or argument holds a value the runtime cannot use."""


Parser = Callable[[str, str, "float | None", "float | None"], Any]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def provider_name(text: str) -> str:
    """Accept short names (``cuda``, ``cpu``) as well as onnxruntime's full provider names."""
    return _PROVIDER_ALIASES.get(text.lower(), text)


def _refuse(source: str, text: str, wanted: str) -> SettingsError:
    # Entries have defaults of their own (the container batches): say how to get the default, not what it is.
    if source.startswith("argument "):
        return SettingsError(f"{source}={text!r} {wanted}")
    return SettingsError(f"{source}={text!r} {wanted}; set one that is, or unset {source} for the default")


def _bounds(value: float, low: float | None, high: float | None, source: str, text: str) -> None:
    if high is not None and not (low or 0) <= value <= high:
        raise _refuse(source, text, f"must be between {low or 0:g} and {high:g}")
    if low is not None and value < low:
        raise _refuse(source, text, "must not be negative" if low == 0 else f"must be at least {low:g}")


def _whole(text: str, source: str, low: float | None, high: float | None) -> int:
    try:
        number = int(text)
    except ValueError:
        raise _refuse(source, text, "must be a whole number") from None
    _bounds(number, low, high, source, text)
    return number


def _number(unit: str) -> Parser:
    def read(text: str, source: str, low: float | None, high: float | None) -> float:
        try:
            number = float(text)
        except ValueError:
            raise _refuse(source, text, f"must be a number of {unit} (e.g. 2.5)") from None
        if not math.isfinite(number):
            raise _refuse(source, text, f"must be a finite number of {unit}")
        _bounds(number, low, high, source, text)
        return number

    return read


def _share(text: str, source: str, low: float | None, high: float | None) -> float:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and (low or 0) <= number <= (1 if high is None else high)):
        raise _refuse(source, text, "must be a number between 0 and 1 (e.g. 0.05)")
    return number


def _flag(text: str, source: str, low: float | None, high: float | None) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _refuse(source, text, "must be true or false (1/0, yes/no, on/off)")


def _metrics(text: str, source: str, low: float | None, high: float | None) -> str:
    if text not in {"prometheus", "emf", "none"}:
        raise _refuse(source, text, "must be one of prometheus, emf, none")
    return text


def _paths(text: str, source: str, low: float | None, high: float | None) -> tuple[str, ...]:
    return tuple(part for part in text.split(os.pathsep) if part)


def _providers(text: str, source: str, low: float | None, high: float | None) -> tuple[str, ...]:
    return tuple(provider_name(part.strip()) for part in text.split(",") if part.strip())


def _names(text: str, source: str, low: float | None, high: float | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _text(text: str, source: str, low: float | None, high: float | None) -> str:
    return text


#: Kind name -> parser (see :data:`handlers.settings._KIND` for which setting has which kind).
KINDS: dict[str, Parser] = {
    "int": _whole,
    "seconds": _number("seconds"),
    "ms": _number("milliseconds"),
    "share": _share,
    "bool": _flag,
    "metrics": _metrics,
    "paths": _paths,
    "providers": _providers,
    "names": _names,
    "text": _text,
}
