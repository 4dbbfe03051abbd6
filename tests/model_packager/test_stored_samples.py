"""package() keeps at most 64 sample rows: those rows must pass the check verify and serve will make."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from bundle import Manifest
from model_packager.job import MAX_STORED_ROWS
from model_packager.parity import ParityError
from model_packager.tensor_finish import _stored_samples


def _identity() -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["label"])],
        "labels",
        [helper.make_tensor_value_info("x", TensorProto.INT64, [None])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _manifest(rows: int, min_agreement: float) -> Manifest:
    check = {
        "output": "label",
        "metric": "label_agreement",
        "tolerance": min_agreement,
        "measured": 0.99,
        "passed": True,
    }
    return Manifest.model_validate(
        {
            "name": "m",
            "version": "1.0.0",
            "created": "2026-01-01T00:00:00Z",
            "framework": {"name": "onnx", "version": onnx.__version__},
            "converter": {"name": "onnx", "version": onnx.__version__},
            "opsets": {"": 17},
            "inputs": [{"name": "x", "dtype": "int64", "shape": [None]}],
            "outputs": [{"name": "label", "dtype": "int64", "shape": [None]}],
            "task": "classifier",
            "label_output": "label",
            "parity": {"sample_count": rows, "passed": True, "checks": [check]},
            "files": {"model.onnx": {"sha256": "0" * 64, "size": 0}},
            "provenance": {"maaskit_version": "0", "python_version": "3.11"},
        }
    )


def test_a_flip_that_passed_on_every_row_but_not_on_the_stored_rows_is_refused():
    rows = 200
    feed = {"x": np.zeros(rows, dtype=np.int64)}
    expected = {"label": np.zeros(rows, dtype=np.int64)}
    expected["label"][3] = 1  # 199/200 = 99.5% agree overall, 63/64 = 98.4% on the stored rows
    with pytest.raises(ParityError, match=r"first 64 of the 200 sample rows.*label agreement 0\.9844 < 0\.99"):
        _stored_samples(_identity(), feed, expected, _manifest(rows, 0.99))
    inputs, outputs = _stored_samples(_identity(), feed, expected, _manifest(rows, 0.98))
    assert len(inputs["x"]) == len(outputs["label"]) == MAX_STORED_ROWS
