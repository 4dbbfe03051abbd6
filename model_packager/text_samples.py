"""Sample texts for text models: from ``--sample texts.txt|.jsonl``, a list of strings, or a built-in set.

The built-in set is a small retrieval set (pairs of related sentences on different topics, so an
embedding model's neighbours are meaningful), sentences of very different lengths, and one text far
longer than any model's maximum length, so the parity gate always exercises truncation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from model_packager.converters.base import SampleMismatchError

__all__ = ["BUILTIN_TEXTS", "TEXT_SAMPLE_SUFFIXES", "MAX_SAMPLE_TEXTS", "is_text_sample_file", "texts_from"]

TEXT_SAMPLE_SUFFIXES = (".txt", ".jsonl")
#: Parity runs every given text in one batch (so outputs keep one padded shape), through the original
#: model and onnxruntime: at 512 tokens, attention alone takes heads x 512 x 512 floats per text.
MAX_SAMPLE_TEXTS = 64

BUILTIN_TEXTS: tuple[str, ...] = (
    "The cat sat on the mat.",
    "A small cat is sleeping on a warm mat.",
    "Stock markets fell sharply after the bank raised interest rates.",
    "The central bank's rate decision sent share prices down.",
    "It will rain in London tomorrow, and the weather stays cold.",
    "Cold and rainy weather is expected in London.",
    "Python is a programming language used for machine learning.",
    "Machine learning models are often written in Python code.",
    "Alice met Bob in Paris.",
    "John Smith works for Google in Berlin!",
    "I loved this movie: great music, terrible ending?",
    "Bad film.",
    "ok",
    "",
    "   leading and trailing spaces   ",
    "Numbers like 3.14, 42 and 2026-12-01 appear in text too.",
    " ".join(["A very long document about rivers, cities, markets and the sea keeps going on."] * 60),
)


def _from_jsonl(path: Path, lines: list[str]) -> list[str]:
    texts: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SampleMismatchError(f"{path.name} line {number} is not JSON: {exc.msg}") from None
        if isinstance(item, dict):
            item = item.get("text")
        if not isinstance(item, str):
            raise SampleMismatchError(
                f'{path.name} line {number}: each line must be a JSON string or an object with a "text" string'
            )
        texts.append(item)
    return texts


def _read_file(path: Path) -> list[str]:
    if not path.is_file():
        raise SampleMismatchError(f"sample {path} does not exist")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SampleMismatchError(f"sample {path.name} cannot be read as UTF-8 text: {exc}") from None
    if path.suffix.lower() == ".jsonl":
        return _from_jsonl(path, lines)
    return [line for line in lines if line.strip()]


def is_text_sample_file(sample: object) -> bool:
    """Whether ``sample`` names a .txt or .jsonl file of texts."""
    return isinstance(sample, str | Path) and Path(sample).suffix.lower() in TEXT_SAMPLE_SUFFIXES


def texts_from(sample: object) -> tuple[list[str], str | None]:
    """The sample texts and a note saying where they came from (None when the user gave a list)."""
    if sample is None:
        return list(BUILTIN_TEXTS), f"no --sample given: the built-in set of {len(BUILTIN_TEXTS)} texts"
    if isinstance(sample, str | Path):
        path = Path(sample)
        if path.suffix.lower() not in TEXT_SAMPLE_SUFFIXES:
            raise SampleMismatchError(
                f"sample {path.name}: text models take texts: a .txt file (one text per line) or .jsonl "
                '(one JSON string or {"text": ...} per line)'
            )
        texts, note = _read_file(path), f"sample texts from {path.name}"
    elif isinstance(sample, Sequence) and all(isinstance(item, str) for item in sample):
        texts, note = list(sample), None
    else:
        raise SampleMismatchError("a text model's sample is a list of strings or a .txt/.jsonl file")
    if len(texts) < 2:
        raise SampleMismatchError(f"give at least 2 sample texts (got {len(texts)}); the parity gate compares rankings")
    if len(texts) > MAX_SAMPLE_TEXTS:
        raise SampleMismatchError(f"give at most {MAX_SAMPLE_TEXTS} sample texts (got {len(texts)})")
    return texts, note
