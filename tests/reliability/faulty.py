"""A bundle whose model raises inside onnxruntime for some inputs, and a ``maaskit serve`` started by pid."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from bundle import FileEntry, Manifest, ParityReport, Provenance, TensorSpec, ToolInfo
from bundle.writer import write_bundle

ROOT = Path(__file__).resolve().parents[2]


def reshape_bundle(out: Path) -> Path:
    """``rows = Reshape(X, [-1, 3])``: any [batch, n] float32 input validates; onnxruntime fails unless 3 divides it."""
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["X", "shape"], ["rows"])],
        "reshape",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, None])],
        [helper.make_tensor_value_info("rows", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    sample = np.arange(12, dtype=np.float32).reshape(2, 6)
    manifest = Manifest(
        name="reshaper",
        version="1.0.0",
        created="2026-01-01T00:00:00Z",
        framework=ToolInfo(name="onnx", version="1.17"),
        converter=ToolInfo(name="onnx", version="1.17"),
        opsets={"": 17},
        inputs=[TensorSpec(name="X", dtype="float32", shape=[None, None])],
        outputs=[TensorSpec(name="rows", dtype="float32", shape=[None, 3])],
        parity=ParityReport(sample_count=2, passed=True, checks=[]),
        files={"model.onnx": FileEntry(sha256="0" * 64, size=0)},
        provenance=Provenance(maaskit_version="0.1.0", python_version="3.11"),
    )
    written = write_bundle(out, manifest, model.SerializeToString(), {"X": sample}, {"rows": sample.reshape(-1, 3)})
    return written.directory


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(port: int) -> bool:
    """Whether anything accepts a TCP connection on the loopback ``port``."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def serve_command(*bundles: Path, port: int) -> list[str]:
    """``maaskit serve`` on loopback with one onnxruntime thread."""
    cli = [sys.executable, "-c", "from maaskit.cli import main; main()"]
    return [*cli, "serve", *map(str, bundles), "--port", str(port), "--threads", "1"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAASKIT_", "SM_", "SAGEMAKER_"))}
    env["MAASKIT_ACCESS_LOG"] = "false"
    return env


def run_serve(*bundles: Path, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``maaskit serve`` expecting it to exit on its own (a refused bundle); returns the result and the port."""
    port = free_port()
    result = subprocess.run(
        serve_command(*bundles, port=port),
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
        cwd=ROOT,
    )
    return result, port


@contextmanager
def serving(*bundles: Path, log: Path) -> Iterator[str]:
    """``maaskit serve`` in a subprocess until the block ends (stopped by its pid); yields its base URL."""
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(serve_command(*bundles, port=port), stdout=sink, stderr=sink, env=_env(), cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"maaskit serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(url + "/ping", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"maaskit serve not ready in 60 s:\n{log.read_text()}") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
