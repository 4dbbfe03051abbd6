"""How a scikit-learn model's ONNX inputs are laid out, and the sample fitted to them.

Two layouts:

* **matrix**: the model was fitted on an array; one float32 input ``input`` of
  shape ``[batch, n_features]``.
* **columns**: the model was fitted on a DataFrame (it has ``feature_names_in_``);
  one input per column, shape ``[batch, 1]``: float32 for floats, int64 for
  integers, string for text/categorical columns. This is what lets a
  ColumnTransformer mixing numbers and strings run in onnxruntime.

The original model is fed the same values the ONNX model gets (floats rounded
to float32), so parity measures the conversion, not the input rounding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model_packager.converters.base import SampleData, SampleMismatchError, require
from model_packager.samples import is_dataframe

__all__ = ["InputPlan", "plan_inputs", "restore_input_names"]

MATRIX_INPUT = "input"


@dataclass
class InputPlan:
    """ONNX input types for skl2onnx, the ONNX feed, and the same data for the original model."""

    initial_types: list[tuple[str, Any]]
    feed: dict[str, np.ndarray]
    original: Any
    generated: bool = False
    notes: list[str] = field(default_factory=list)


def _matrix(model: Any, sample: SampleData, rows: int) -> InputPlan:
    types: Any = require("skl2onnx.common.data_types", "sklearn")
    width = getattr(model, "n_features_in_", None)
    generated = sample is None
    notes: list[str] = []
    if sample is None:
        if width is None:
            raise SampleMismatchError(f"{type(model).__name__} does not record its number of features; give a sample")
        array = np.random.default_rng(0).standard_normal((rows, int(width)))
        notes.append(f"no sample given: generated {rows} rows x {width} standard-normal float32 features (seed 0)")
    else:
        array = sample.to_numpy() if is_dataframe(sample) else np.asarray(sample)
    if array.dtype.kind in {"U", "S", "O"}:
        raise SampleMismatchError(
            "the sample holds text, but the model was fitted on a numeric array; "
            "fit it on a DataFrame to get one input per column"
        )
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise SampleMismatchError(f"the sample must be a 2-D table (rows x features), it has shape {list(array.shape)}")
    if width is not None and array.shape[1] != width:
        raise SampleMismatchError(
            f"the sample has {array.shape[1]} features per row, the model takes {width}; pass rows of {width} values"
        )
    x32 = np.ascontiguousarray(array.astype(np.float32))
    initial = [(MATRIX_INPUT, types.FloatTensorType([None, int(x32.shape[1])]))]
    return InputPlan(initial, {MATRIX_INPUT: x32}, x32, generated, notes)


def _column_kind(values: np.ndarray) -> str:
    if values.dtype.kind == "f":
        return "float"
    if values.dtype.kind in {"i", "u"}:
        return "int"
    if values.dtype.kind == "b":
        return "bool"
    return "string"


def _columns(model: Any, names: list[str], sample: SampleData) -> InputPlan:
    pandas: Any = require("pandas", "sklearn")
    types: Any = require("skl2onnx.common.data_types", "sklearn")
    if sample is None:
        raise SampleMismatchError(
            f"the model was fitted on named columns {names}; give a sample (a .csv or a DataFrame) "
            "so maaskit learns each column's type"
        )
    if is_dataframe(sample):
        frame = sample.copy()
    elif isinstance(sample, Mapping):
        frame = pandas.DataFrame({key: np.asarray(value).reshape(-1) for key, value in sample.items()})
    else:
        array = np.asarray(sample)
        array = array.reshape(1, -1) if array.ndim == 1 else array
        if array.ndim != 2 or array.shape[1] != len(names):
            raise SampleMismatchError(
                f"the model was fitted on {len(names)} named columns {names}; "
                f"the sample has shape {list(array.shape)}. "
                "Give a .csv or DataFrame with those columns"
            )
        frame = pandas.DataFrame(array, columns=names).infer_objects()
    columns = [str(column) for column in frame.columns]
    missing = [name for name in names if name not in columns]
    extra = [column for column in columns if column not in names]
    if missing or extra:
        raise SampleMismatchError(
            "sample columns do not fit the model"
            + (f": missing {missing}" if missing else "")
            + (f"; unexpected {extra}" if extra else "")
            + f" (the model takes {names})"
        )
    frame = frame[names]
    initial: list[tuple[str, Any]] = []
    feed: dict[str, np.ndarray] = {}
    for name in names:
        values = frame[name].to_numpy()
        kind = _column_kind(values)
        if kind in {"float", "bool"}:
            column = values.astype(np.float32)
            frame[name] = column.astype(np.float64) if kind == "float" else values
            initial.append((name, types.FloatTensorType([None, 1])))
        elif kind == "int":
            column = values.astype(np.int64)
            initial.append((name, types.Int64TensorType([None, 1])))
        else:
            if frame[name].isna().any():
                raise SampleMismatchError(f"text column {name!r} has missing values; fill them before packaging")
            column = values.astype(str).astype(object)
            initial.append((name, types.StringTensorType([None, 1])))
        feed[name] = column.reshape(-1, 1)
    return InputPlan(initial, feed, frame)


def restore_input_names(onx: Any, plan: InputPlan) -> list[str]:
    """Give the ONNX inputs the DataFrame's column names back where skl2onnx rewrote them.

    skl2onnx turns ``"sepal length (cm)"`` into ``sepal_length__cm_`` without saying so, so a
    request with the columns the model was fitted on would miss every input
    (https://github.com/onnx/sklearn-onnx/issues/1153). The feed keeps the user's names.
    """
    from model_packager.converters.common import rename_values

    wanted = list(plan.feed)
    actual = [value.name for value in onx.graph.input]
    if actual == wanted or len(actual) != len(wanted):
        return []
    rename_values(onx, dict(zip(actual, wanted, strict=True)))
    return ["ONNX input names restored to the DataFrame's column names (skl2onnx sanitizes them)"]


def plan_inputs(model: Any, sample: SampleData, rows: int) -> InputPlan:
    """Choose the input layout for ``model`` and fit ``sample`` (or a generated one) to it."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return _columns(model, [str(name) for name in names], sample)
    if isinstance(sample, Mapping):
        if len(sample) != 1:
            raise SampleMismatchError(
                f"the model was fitted on an array, so it takes one input; the sample has {len(sample)}: {list(sample)}"
            )
        sample = next(iter(sample.values()))
    return _matrix(model, sample, rows)
