"""Coercion to the model's dtypes and the messages for each kind of bad tensor."""

from __future__ import annotations

import numpy as np
import pytest

from bundle import TensorSpec
from handlers.errors import InvalidInputError
from handlers.validation import coerce_tensor

F32 = TensorSpec(name="x", dtype="float32", shape=[None, 2])
I64 = TensorSpec(name="n", dtype="int64", shape=[None, 2])
U8 = TensorSpec(name="u", dtype="uint8", shape=[None])
TEXT = TensorSpec(name="t", dtype="string", shape=[None, 1])
FLAG = TensorSpec(name="f", dtype="bool", shape=[None])
IMAGE = TensorSpec(name="img", dtype="float32", shape=[None, 3, 2, 2])


def test_json_numbers_become_the_model_dtype():
    out = coerce_tensor(F32, [[1, 2], [3.5, 4]])
    assert out.dtype == np.float32
    assert out.tolist() == [[1.0, 2.0], [3.5, 4.0]]
    assert coerce_tensor(I64, [[1.0, 2.0]]).dtype == np.int64
    assert coerce_tensor(FLAG, [True, 0, 1]).tolist() == [True, False, True]


def test_binary_arrays_are_cast_safely():
    assert coerce_tensor(F32, np.ones((2, 2), np.float64)).dtype == np.float32
    assert coerce_tensor(I64, np.ones((1, 2), np.int32)).dtype == np.int64


def test_strings_become_object_arrays():
    out = coerce_tensor(TEXT, [["a"], ["b"]])
    assert out.dtype == object
    assert out.tolist() == [["a"], ["b"]]
    with pytest.raises(InvalidInputError, match="takes strings"):
        coerce_tensor(TEXT, [[1], [2]])


@pytest.mark.parametrize(
    ("spec", "value", "fragment"),
    [
        (F32, [["a", "b"]], "got strings"),
        (F32, [[True, False]], "got booleans"),
        (F32, [[1, float("nan")]], "NaN or infinity"),
        (F32, np.asarray([[1, np.inf]]), "NaN or infinity"),
        (F32, [1, 2], "wrap a single row in a list"),
        (F32, [[1, 2, 3]], "shape [?, 2]"),
        (IMAGE, np.zeros((1, 3, 2, 3), np.float32), "axis 3"),
        (I64, [[0.5, 1]], "non-integer"),
        (U8, [256], "outside the uint8 range"),
        (U8, [-1], "outside the uint8 range"),
        (FLAG, [2], "booleans"),
        (F32, [[1, 2], [3]], "ragged"),
    ],
)
def test_bad_tensors_name_the_input_and_the_problem(spec, value, fragment):
    with pytest.raises(InvalidInputError, match=None) as info:
        coerce_tensor(spec, value)
    assert fragment in info.value.message
    assert repr(spec.name) in info.value.message


def test_models_that_take_nan_can_say_so():
    out = coerce_tensor(F32, [[1, float("nan")]], allow_nonfinite=True)
    assert np.isnan(out[0, 1])
