"""How a CSV or ``.npy`` file of examples is read: one rule for the server's codecs and the client.

A CSV file is UTF-8 (a byte-order mark allowed), blank lines skipped, a header line skipped when it
is all text and the line after it is not (pandas' ``to_csv`` writes one), and every row as wide as the
first. An ``.npy`` file is one plain array (numbers, booleans or strings; never pickled objects).
Failures raise :class:`~bundle.errors.InputError` naming ``where`` the data came from.
"""

from __future__ import annotations

import csv
import io
from tokenize import TokenError

import numpy as np

from bundle.errors import InputError

__all__ = ["NPY_KINDS", "csv_table", "npy_array"]

#: Array kinds a ``.npy`` example file may hold: booleans, integers, floats, text.
NPY_KINDS = frozenset("biufUS")


def _all_text(row: list[str]) -> bool:
    """True when no field of ``row`` reads as a number."""
    for field in row:
        try:
            float(field)
        except ValueError:
            continue
        return False
    return True


def csv_table(body: bytes, where: str) -> np.ndarray:
    """The CSV rows of ``body`` as a 2-D array of strings (see the module docstring for the rules)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{where} is not UTF-8 text") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        raise InputError(f"{where} holds no rows")
    if len(rows) > 1 and _all_text(rows[0]) and not _all_text(rows[1]):
        rows = rows[1:]  # a header line
    width = len(rows[0])
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise InputError(
                f"CSV row {number} has {len(row)} fields where row 1 has {width}; every row needs the same columns"
            )
    return np.asarray(rows, dtype=str)


def npy_array(body: bytes, where: str) -> np.ndarray:
    """The one plain array of an ``.npy`` ``body`` (strings as an object array)."""
    try:
        array = np.load(io.BytesIO(body), allow_pickle=False)
    except ValueError as exc:
        raise InputError(f"{where} is not a .npy array without pickled objects: {exc}") from None
    except (OSError, EOFError, SyntaxError, TokenError, TypeError, KeyError) as exc:  # a damaged header
        raise InputError(f"{where} is not a readable .npy array: {type(exc).__name__}: {exc}") from None
    if not isinstance(array, np.ndarray):
        raise InputError(f"{where} holds an .npz archive; send a single .npy array")
    if array.dtype.kind not in NPY_KINDS:
        raise InputError(
            f".npy array has dtype {array.dtype.str!r}; send a plain array of numbers, booleans or strings"
        )
    return array.astype(object) if array.dtype.kind in "US" else array
