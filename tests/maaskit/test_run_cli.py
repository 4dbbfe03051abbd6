"""``maaskit serve`` and ``maaskit invoke`` end to end (a real server process on loopback)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from maaskit.cli import app
from tests.handlers.conftest import _free_port

runner = CliRunner()


@pytest.fixture(scope="module")
def served(bundles):
    port = _free_port()
    arguments = ["serve", str(bundles.iris), str(bundles.adder_v1), "--port", str(port)]
    env = dict(os.environ, MAASKIT_INTRA_OP_THREADS="1")
    code = "from maaskit.cli import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, *arguments], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"maaskit serve exited: {process.communicate()[1]}")
            try:
                if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("maaskit serve did not become healthy within 60 s")
            time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_then_invoke_over_http(served, samples, tmp_path):
    url, _process = served
    data = tmp_path / "rows.npy"
    np.save(data, samples["iris"].inputs["X"], allow_pickle=False)
    result = runner.invoke(app, ["invoke", url, "--model", "iris", "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["labels"] == samples["iris"].outputs["label"].tolist()
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([{"a": [1, 2], "b": [3, 4]}]))
    result = runner.invoke(app, ["invoke", url, "--model", "adder", "--data", str(rows), "--version", "1.0.0"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outputs"]["total"] == [[4, 6]]


def test_invoke_over_http_sends_the_api_key(served, samples, tmp_path):
    url, _process = served
    data = tmp_path / "rows.npy"
    np.save(data, samples["iris"].inputs["X"], allow_pickle=False)
    result = runner.invoke(app, ["invoke", url, "--model", "iris", "--data", str(data), "--api-key", "secret-key"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["labels"] == samples["iris"].outputs["label"].tolist()


def test_served_process_logs_json_lines_without_access_log(served):
    url, process = served
    httpx.get(f"{url}/models")
    process.terminate()
    out, err = process.communicate(timeout=10)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert any(line["path"] == "/models" and line["status"] == 200 for line in lines)
    assert '"GET /models HTTP/1.1" 200' not in out + err  # uvicorn's own access log is off


def test_invoke_bundle_in_process_uses_its_samples(bundles, samples):
    result = runner.invoke(app, ["invoke", str(bundles.regressor)])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    np.testing.assert_allclose(
        answer["outputs"]["variable"], samples["diabetes"].outputs["variable"], rtol=1e-4, atol=1e-3
    )


def test_invoke_csv_in_process(bundles, tmp_path):
    data = tmp_path / "rows.csv"
    data.write_text("1,2,3,4\n")
    result = runner.invoke(app, ["invoke", str(bundles.adder_v2), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outputs"] == {"total": [[8, 12]]}  # the /predict answer, as over HTTP


def test_invoke_bad_input_exits_2(bundles, tmp_path):
    bad = tmp_path / "rows.json"
    bad.write_text("[[1, 2, 3]]")
    result = runner.invoke(app, ["invoke", str(bundles.iris), "--data", str(bad)])
    assert result.exit_code == 2
    assert "shape [?, 4]" in result.output
    result = runner.invoke(app, ["invoke", str(bundles.iris), "--data", str(tmp_path / "rows.txt")])
    assert result.exit_code == 2
    result = runner.invoke(app, ["invoke", "http://127.0.0.1:9", "--model", "iris", "--data", str(bad)])
    assert result.exit_code == 2
    assert "cannot reach" in result.output


def test_serve_refuses_a_tampered_bundle(bundles, tmp_path):
    copy = tmp_path / "iris"
    shutil.copytree(bundles.iris, copy)
    (copy / "samples.npz").write_bytes(b"tampered")
    result = runner.invoke(app, ["serve", str(copy), "--port", str(_free_port())])
    assert result.exit_code == 2
    assert "samples.npz" in result.output


def test_invoke_folder_of_models_needs_a_model_name(bundles):
    result = runner.invoke(app, ["invoke", str(bundles.root)])
    assert result.exit_code == 2
    assert "pick one with --model" in result.output
    result = runner.invoke(app, ["invoke", str(bundles.root), "--model", "adder", "--version", "1.0.0"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["version"] == "1.0.0"


def test_invoke_refuses_two_authentication_options(bundles):
    result = runner.invoke(app, ["invoke", "http://127.0.0.1:9", "--api-key", "k", "--token", "t"])
    assert result.exit_code == 2
    assert "choose one authentication option, not --api-key and --token" in result.output


def _two_input_bundle(out):
    """``total = a + b`` with two named float inputs, packaged as users do."""
    from onnx import TensorProto, helper

    import model_packager

    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["total"])],
        "sum",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 2]) for n in ("a", "b")],
        [helper.make_tensor_value_info("total", TensorProto.FLOAT, [None, 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    sample = {"a": np.ones((2, 2), np.float32), "b": np.ones((2, 2), np.float32)}
    return model_packager.package(model, name="sum", version="1.0.0", sample=sample, out=out).directory


def test_invoke_npz_sends_one_array_per_input(tmp_path):
    bundle = _two_input_bundle(tmp_path / "bundles")
    data = tmp_path / "inputs.npz"
    np.savez(data, a=np.asarray([[1, 2]], np.float32), b=np.asarray([[10, 20]], np.float32))
    result = runner.invoke(app, ["invoke", str(bundle), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outputs"]["total"] == [[11, 22]]
    np.savez(data, a=np.asarray([[1, 2]], np.float32))  # b is missing: the server names it
    result = runner.invoke(app, ["invoke", str(bundle), "--data", str(data)])
    assert result.exit_code != 0 and "b" in result.output
    data.write_bytes(b"not a zip")
    result = runner.invoke(app, ["invoke", str(bundle), "--data", str(data)])
    assert result.exit_code == 2 and "not a readable .npz" in result.output


def test_invoke_image_files_go_to_the_predict_route_as_maaskit_json(tmp_path):
    """Image files reach ``/models/{m}/predict`` (routed for Lambda and SageMaker models alike), base64."""
    import base64

    from maaskit.invoke import build_request

    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    request = build_request("vision", image, None, None)
    assert request["path"] == "/models/vision/predict"
    assert request["headers"]["content-type"] == "application/json"
    sent = json.loads(request["body"])["inputs"]["image"][0]["b64"]
    assert base64.b64decode(sent) == image.read_bytes()
