"""A run over its time budget is stopped and answered 504; the server goes on serving."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bundle import FileEntry, Manifest, ParityReport, Provenance, TensorSpec, ToolInfo
from bundle.writer import write_bundle
from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.settings import Settings, SettingsError
from tests.handlers.conftest import asgi_post

WIDTH = 1024
LAYERS = 24


def _slow_bundle(out: Path) -> Path:
    """X [batch, 1024] through 24 MatMuls with one 1024x1024 weight: ~50 GFLOP for 1,000 rows, ~µs for one."""
    weight = numpy_helper.from_array(np.full((WIDTH, WIDTH), 1e-3, dtype=np.float32), "W")
    nodes, current = [], "X"
    for layer in range(LAYERS):
        nodes.append(helper.make_node("MatMul", [current, "W"], [f"h{layer}"]))
        current = f"h{layer}"
    nodes.append(helper.make_node("Identity", [current], ["Y"]))
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, WIDTH])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, WIDTH])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    sample = np.ones((1, WIDTH), dtype=np.float32)
    expected = sample.copy()
    for _ in range(LAYERS):
        expected = expected @ np.full((WIDTH, WIDTH), 1e-3, dtype=np.float32)
    manifest = Manifest(
        name="slow",
        version="1.0.0",
        created="2026-01-01T00:00:00Z",
        framework=ToolInfo(name="onnx", version=onnx.__version__),
        converter=ToolInfo(name="onnx", version=onnx.__version__),
        opsets={"": 17},
        inputs=[TensorSpec(name="X", dtype="float32", shape=[None, WIDTH])],
        outputs=[TensorSpec(name="Y", dtype="float32", shape=[None, WIDTH])],
        parity=ParityReport(sample_count=1, passed=True, checks=[]),
        files={"model.onnx": FileEntry(sha256="0" * 64, size=0)},
        provenance=Provenance(maaskit_version="0.1.0", python_version="3.11"),
    )
    return write_bundle(out, manifest, model.SerializeToString(), {"X": sample}, {"Y": expected}).directory


@pytest.fixture(scope="module")
def budget_app(tmp_path_factory: pytest.TempPathFactory):
    bundle = _slow_bundle(tmp_path_factory.mktemp("slow"))
    settings = Settings.load(
        environ={}, access_log=False, metrics="none", intra_op_threads=1, inference_timeout_ms=50, max_body_bytes=10**8
    )
    return create_app(ModelRepository.load(settings, [bundle]), settings)


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def test_run_over_budget_is_stopped_with_504_and_the_next_request_is_served(budget_app):
    heavy = np.ones((1000, WIDTH), dtype=np.float32)
    started = time.perf_counter()
    answer = asgi_post(
        budget_app,
        "/invocations",
        content=_npy(heavy),
        headers={"content-type": "application/x-npy", "x-maaskit-model": "slow"},
    )
    waited = time.perf_counter() - started
    assert answer.status_code == 504, answer.text
    assert "50 ms budget" in answer.text and "MAASKIT_INFERENCE_TIMEOUT_MS" in answer.text
    assert waited < 5, f"the client waited {waited:.1f} s for a 50 ms budget"

    light = asgi_post(budget_app, "/models/slow/predict", json={"inputs": {"X": np.ones((1, WIDTH)).tolist()}})
    assert light.status_code == 200, light.text


def test_oip_renders_the_timeout_in_its_own_error_shape(budget_app):
    heavy = np.ones((1000, WIDTH), dtype=np.float32)
    body = {"inputs": [{"name": "X", "shape": list(heavy.shape), "datatype": "FP32", "data": heavy.ravel().tolist()}]}
    answer = asgi_post(budget_app, "/v2/models/slow/infer", json=body)
    assert answer.status_code == 504
    assert "budget" in answer.json()["error"]


def test_negative_budget_is_refused_by_name():
    with pytest.raises(SettingsError, match="MAASKIT_INFERENCE_TIMEOUT_MS"):
        Settings.load(environ={"MAASKIT_INFERENCE_TIMEOUT_MS": "-5"})
