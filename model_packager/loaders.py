"""Recognise saved model files by suffix and content, and load pickles safely-ish.

Loading a pickle runs code from the file: only package models you trained or trust.
"""

from __future__ import annotations

import pickle
import zlib
from pathlib import Path
from typing import Any

from model_packager.converters.base import MissingFrameworkError, ModelLoadError, require

__all__ = ["PICKLE_SUFFIXES", "head", "is_pickle", "load_pickle"]

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav")
#: Top-level module a pickle may need -> the maaskit extra that installs it.
_EXTRA_FOR_MODULE = {
    "sklearn": "sklearn",
    "pandas": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "torch": "torch",
    "tensorflow": "tensorflow",
    "keras": "tensorflow",
}
#: Leading bytes of joblib's compressed formats (zlib, gzip, bz2, xz, lzma).
_COMPRESSED_MAGIC = (
    b"\x78\x01",
    b"\x78\x5e",
    b"\x78\x9c",
    b"\x78\xda",
    b"ZF",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ",
    b"]\x00\x00",
)


def head(path: Path, size: int = 256) -> bytes:
    """The first ``size`` bytes of a file (empty for directories)."""
    if not path.is_file():
        return b""
    with path.open("rb") as handle:
        return handle.read(size)


def is_pickle(path: Path) -> bool:
    """Whether ``path`` is a pickle or joblib file, by suffix or by its first bytes."""
    if not path.is_file():
        return False
    if path.name.lower().endswith(PICKLE_SUFFIXES):
        return True
    start = head(path, 8)
    return (len(start) >= 2 and start[0] == 0x80 and 2 <= start[1] <= 5) or start.startswith(_COMPRESSED_MAGIC)


def load_pickle(path: Path) -> Any:
    """Load a pickle or joblib file; a corrupted or truncated file raises ModelLoadError."""
    joblib: Any = require("joblib", "sklearn")
    try:
        return joblib.load(path)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".", 1)[0]
        extra = _EXTRA_FOR_MODULE.get(top)
        if extra is None:
            raise ModelLoadError(f"{path.name} needs the module {exc.name!r} to load; install it and retry") from None
        raise MissingFrameworkError(
            f"{path.name} holds a {top} object but {top} is not installed; "
            f"install it with: pip install 'maaskit[{extra}]'"
        ) from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
        ImportError,
        zlib.error,
        OSError,
    ) as exc:
        size = path.stat().st_size if path.exists() else 0
        raise ModelLoadError(
            f"{path.name} ({size} bytes) is not a readable pickle/joblib file: {type(exc).__name__}: {exc}. "
            "It may be truncated or corrupted; save the model again (joblib.dump) and retry"
        ) from None
