"""Body decoding knows body kinds, never families: a family that takes a new kind of file needs no codec edit."""

from __future__ import annotations

import pytest

from handlers.codecs import binary, body_kind, decode_body, json_inputs
from handlers.errors import InvalidInputError, UnsupportedMediaTypeError


def test_file_bodies_are_their_bytes_whatever_the_family() -> None:
    speech = frozenset({"audio"})
    assert body_kind("audio/flac", b"fLaC", speech, "whisper") == "audio"
    assert body_kind("audio/x-m4a", b"....", speech, "whisper") == "audio"  # any audio/* type
    assert body_kind("", b"RIFF", speech, "whisper") == "audio"  # no Content-Type, not JSON
    assert decode_body("audio/flac", b"fLaC", "audio").raw == b"fLaC"
    with pytest.raises(UnsupportedMediaTypeError, match=r"send audio/wav, audio/flac, audio/mpeg or application/json"):
        body_kind("image/png", b"\x89PNG", speech, "whisper")
    with pytest.raises(InvalidInputError, match="the body is empty"):
        decode_body("audio/wav", b"", "audio")


def test_json_bodies_become_neutral_inputs() -> None:
    assert json_inputs({"inputs": "a text", "parameters": {"top_k": 2}}).raw == "a text"
    assert json_inputs({"inputs": "a text", "parameters": {"top_k": 2}}).options == {"top_k": 2}
    assert json_inputs({"instances": [[1, 2]]}).rows == [[1, 2]]
    assert json_inputs({"a": [[1]], "b": [[2]]}).named == {"a": [[1]], "b": [[2]]}
    assert json_inputs({"x": 1.0, "y": "z"}).rows == [{"x": 1.0, "y": "z"}]  # one record
    assert binary(["text", {"b64": "aGk="}, {"image_bytes": {"b64": "aGk="}}], "instance") == [
        "text",
        b"hi",
        {"image_bytes": b"hi"},
    ]
    with pytest.raises(InvalidInputError, match='instance\\[0\\]: "b64" is not valid base64'):
        binary([{"b64": "%%%"}], "instance")
