"""Sample inputs: read them from files, fit them to a signature, or generate them.

A sample is what a user gives to show the model working: ``.npy`` (one array),
``.npz`` (one array per input name), ``.csv`` (columns by name, for column-wise
models), or in Python an array, a dict of arrays, a tuple/list of arrays
(positional inputs) or a pandas DataFrame.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bundle import TensorSpec
from model_packager.converters.base import SampleData, SampleMismatchError, require

__all__ = [
    "SAMPLE_SUFFIXES",
    "describe_shape",
    "fit_array",
    "feed_for_specs",
    "generate_feed",
    "is_dataframe",
    "load_sample_file",
]

SAMPLE_SUFFIXES = (".npy", ".npz", ".csv")
#: Length used for a dynamic axis other than the batch axis when generating a sample.
GENERATED_AXIS = 8


def is_dataframe(value: object) -> bool:
    """Whether ``value`` is a pandas DataFrame (without importing pandas)."""
    return type(value).__name__ == "DataFrame" and type(value).__module__.startswith("pandas")


def load_sample_file(path: Path) -> SampleData:
    """Read a sample file: ``.npy`` -> array, ``.npz`` -> dict of arrays, ``.csv`` -> DataFrame."""
    suffix = path.suffix.lower()
    if suffix not in SAMPLE_SUFFIXES:
        raise SampleMismatchError(
            f"sample {path.name}: unsupported file type {suffix or '(none)'!r}; give {', '.join(SAMPLE_SUFFIXES)}"
        )
    if not path.is_file():
        raise SampleMismatchError(f"sample {path} does not exist")
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
            if not arrays:
                raise SampleMismatchError(f"sample {path.name} holds no arrays")
            return arrays
        pandas: Any = require("pandas", "sklearn")
        return pandas.read_csv(path)
    except SampleMismatchError:
        raise
    except ValueError as exc:
        hint = " (object arrays are refused: save strings as a .csv or a unicode array)" if "pickle" in str(exc) else ""
        raise SampleMismatchError(f"sample {path.name} cannot be read: {exc}{hint}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise SampleMismatchError(f"sample {path.name} cannot be read: {exc}") from None
    except Exception as exc:  # pandas parser errors have no common stdlib base
        raise SampleMismatchError(f"sample {path.name} cannot be read as CSV: {exc}") from None


def describe_shape(shape: Sequence[int | None]) -> str:
    """``[None, 4]`` -> ``[batch, 4]``: how a signature shape reads in messages."""
    return "[" + ", ".join("dynamic" if dim is None else str(dim) for dim in shape) + "]"


def _to_array(value: object) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu().numpy()
    elif hasattr(value, "numpy") and not isinstance(value, np.ndarray):  # a TensorFlow tensor
        value = value.numpy()
    return np.asarray(value)


def _by_name(sample: SampleData, specs: list[TensorSpec]) -> dict[str, np.ndarray]:
    names = [spec.name for spec in specs]
    if is_dataframe(sample):
        columns = [str(column) for column in sample.columns]
        if all(name in columns for name in names) and not (len(names) == 1 and len(columns) > 1):
            return {name: sample[name].to_numpy() for name in names}
        if len(names) == 1:
            return {names[0]: sample.to_numpy()}
        missing = [name for name in names if name not in columns]
        raise SampleMismatchError(f"sample has no column(s) {missing}; the model's inputs are {names}")
    if isinstance(sample, Mapping):
        given = [str(key) for key in sample]
        missing = [name for name in names if name not in given]
        extra = [key for key in given if key not in names]
        if missing or extra:
            raise SampleMismatchError(
                f"sample names {given} do not match the model's inputs {names}"
                + (f": missing {missing}" if missing else "")
                + (f", unexpected {extra}" if extra else "")
            )
        return {name: _to_array(sample[name]) for name in names}
    positional = isinstance(sample, tuple) or (
        isinstance(sample, list) and len(names) > 1 and all(not np.isscalar(item) for item in sample)
    )
    if positional:
        if len(sample) != len(names):
            raise SampleMismatchError(
                f"sample has {len(sample)} positional arrays, the model takes {len(names)}: {names}"
            )
        return {name: _to_array(item) for name, item in zip(names, sample, strict=True)}
    if len(names) != 1:
        raise SampleMismatchError(
            f"the model takes {len(names)} inputs {names}; give a dict or .npz keyed by input name, or a tuple"
        )
    return {names[0]: _to_array(sample)}


def fit_array(array: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Check ``array`` against ``spec`` (rank, fixed axes, kind) and cast it to the spec's dtype."""
    shape = spec.shape
    if shape and array.ndim == len(shape) - 1 and array.ndim >= 1:
        if shape[-1] == 1:
            array = array.reshape(*array.shape, 1)  # one value per row: a column
        elif shape[0] is None:
            array = array.reshape(1, *array.shape)  # a single row
    if shape and array.ndim != len(shape):
        raise SampleMismatchError(
            f"input {spec.name!r} takes rank-{len(shape)} tensors {describe_shape(shape)}, "
            f"the sample has shape {list(array.shape)}"
        )
    for axis, (want, got) in enumerate(zip(shape, array.shape, strict=True)):
        if want is not None and want != got:
            raise SampleMismatchError(
                f"input {spec.name!r} takes shape {describe_shape(shape)}, the sample has {list(array.shape)}: "
                f"axis {axis} is {got}, the model needs {want}"
            )
    textual = array.dtype.kind in {"U", "S", "O"}
    if spec.dtype == "string":
        if array.dtype.kind not in {"U", "S", "O"}:
            raise SampleMismatchError(f"input {spec.name!r} takes strings, the sample has {array.dtype} values")
        return array.astype(str).astype(object)
    if textual:
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            raise SampleMismatchError(
                f"input {spec.name!r} takes {spec.dtype} numbers, the sample holds text"
            ) from None
    target = np.dtype(spec.dtype)
    if target.kind in {"i", "u"} and array.dtype.kind == "f" and not np.all(np.mod(array, 1) == 0):
        raise SampleMismatchError(f"input {spec.name!r} takes {spec.dtype}, the sample has fractional values")
    return np.ascontiguousarray(array.astype(target))


def feed_for_specs(sample: SampleData, specs: list[TensorSpec]) -> dict[str, np.ndarray]:
    """Fit a user sample to a model signature: one array per input name, in the model's dtypes."""
    arrays = _by_name(sample, specs)
    feed = {spec.name: fit_array(arrays[spec.name], spec) for spec in specs}
    counts = {name: int(array.shape[0]) for name, array in feed.items() if array.ndim}
    if len(set(counts.values())) > 1:
        raise SampleMismatchError(f"sample inputs disagree on the number of rows: {counts}")
    return feed


def generate_feed(specs: list[TensorSpec], rows: int, seed: int = 0) -> tuple[dict[str, np.ndarray], str]:
    """Make a reproducible sample from the signature, or raise SampleMismatchError saying why not.

    Floats are standard normal, integers 0 or 1 (valid ids and mask values for any
    vocabulary), booleans random; the first dynamic axis is the batch (``rows``),
    other dynamic axes get length 8. String inputs cannot be generated.
    """
    rng = np.random.default_rng(seed)
    feed: dict[str, np.ndarray] = {}
    for spec in specs:
        if spec.dtype == "string":
            raise SampleMismatchError(
                f"input {spec.name!r} takes strings, so maaskit cannot invent a sample; give one with --sample"
            )
        shape = [
            rows if index == 0 and dim is None else (GENERATED_AXIS if dim is None else dim)
            for index, dim in enumerate(spec.shape)
        ]
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            feed[spec.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feed[spec.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            feed[spec.name] = rng.integers(0, 2, shape).astype(dtype)
    described = ", ".join(f"{name} {list(array.shape)} {array.dtype}" for name, array in feed.items())
    return feed, f"no sample given: generated one from the signature ({described}; seed {seed})"
