"""The audio files of a request wherever its codec put them: bodies, ``{"b64": ...}``, base64, BYTES tensors.

Every protocol decodes to family-neutral :class:`~handlers.vocabulary.Inputs`; this reads them as the
image family does:

* ``raw``: a file body (SageMaker, TorchServe), ``{"inputs": <file>}`` (the Hugging Face toolkit's shape);
* ``named["audio"]`` / ``named["file"]`` / ``named["inputs"]``, or the only named value: maaskit JSON
  ``{"inputs": {"audio": {"b64": ...}}}``, an OIP ``BYTES`` tensor of any name;
* ``rows``: one file per row.

A file is ``bytes`` (a body, a decoded ``{"b64": ...}``, a binary OIP element), a base64 string (JSON
clients: OIP JSON ``data``, the toolkit's ``{"inputs": "<base64>"}``) or a one-value record of either
(``{"audio_bytes": ...}``). A list or tensor holds several files.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from handlers.errors import InvalidInputError
from handlers.vocabulary import MAX_EXAMPLES, Inputs

__all__ = ["FILE_KEYS", "audio_files"]

#: Names that carry the files in a request of named values (besides a lone value of any name).
FILE_KEYS = ("audio", "file", "inputs")
_HOW = (
    'send the file as the body (Content-Type audio/*), base64 in {"b64": ...} or a base64 string, '
    "or as multipart 'file' on /v1/audio/transcriptions"
)


def _file(item: Any, where: str) -> bytes:
    if isinstance(item, dict) and len(item) == 1:
        item = next(iter(item.values()))
    if isinstance(item, str):
        try:
            item = base64.b64decode(item, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInputError(f"{where} is not valid base64: send the audio file base64-encoded") from None
    if not isinstance(item, bytes | bytearray | memoryview):
        raise InvalidInputError(f"{where} must be an audio file (WAV, FLAC, OGG/Opus, MP3): {_HOW}")
    if not item:
        raise InvalidInputError(f"{where} is empty: send the bytes of an audio file")
    return bytes(item)


def _value(inputs: Inputs) -> tuple[Any, str]:
    if inputs.raw is not None:
        return inputs.raw, inputs.at()
    named = dict(inputs.named)
    key = next((key for key in FILE_KEYS if key in named), None)
    if key is None and len(named) == 1:
        key = next(iter(named))
    if key is not None:
        others = sorted(set(named) - {key})
        if others:
            raise InvalidInputError(f"send the audio files alone in {inputs.at()}, not with {', '.join(others)}")
        return named[key], inputs.at(key)
    if named:
        raise InvalidInputError(f"send the audio under one name (audio), not {', '.join(sorted(named))}")
    if inputs.rows is not None:
        return inputs.rows, inputs.at()
    raise InvalidInputError(f"the request carries no audio: {_HOW}")


def audio_files(inputs: Inputs) -> tuple[list[bytes], bool]:
    """The request's encoded files, and whether one came alone (its answer is not wrapped in a list)."""
    value, where = _value(inputs)
    if isinstance(value, np.ndarray):
        value = value.reshape(-1).tolist()
    elif not isinstance(value, list | tuple):
        return [_file(value, where)], True
    if not value:
        raise InvalidInputError(f"{where} holds no audio files: send at least one")
    if len(value) > MAX_EXAMPLES:
        raise InvalidInputError(f"{where} holds {len(value)} files, over the limit of {MAX_EXAMPLES}: split it")
    return [_file(item, f"{where}[{index}]") for index, item in enumerate(value)], False
