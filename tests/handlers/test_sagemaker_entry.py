"""The SageMaker container entry, run as a real process on loopback, plus its configuration."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from bundle import open_bundle
from handlers.batching import MicroBatcher
from handlers.sagemaker_entry import (
    assign_worker_gpu,
    build_app,
    container_settings,
    default_providers,
    visible_gpus,
)
from handlers.settings import SettingsError
from tests.handlers.bundles import BuiltBundles

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def entry_env(model_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MAASKIT_", "SM_", "SAGEMAKER_"))}
    env.update(SM_MODEL_DIR=str(model_dir), MAASKIT_INTRA_OP_THREADS="1", MAASKIT_HOST="127.0.0.1", **extra)
    return env


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> int:
        """SIGTERM by pid (uvicorn's graceful shutdown), then the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                return self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return int(self.process.returncode)


def start(model_dir: Path, log: Path, **extra: str) -> Server:
    port = free_port()
    env = entry_env(model_dir, SAGEMAKER_BIND_TO_PORT=str(port), **extra)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "handlers.sagemaker_entry", "serve"], env=env, cwd=ROOT, stdout=sink, stderr=sink
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the entry exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/ping", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    pytest.fail(f"/ping never answered 200 within 60 s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def iris_server(bundles: BuiltBundles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The iris model as SageMaker delivers it: model.tar.gz extracted into the model directory."""
    model_dir = tmp_path_factory.mktemp("opt-ml-model")
    with tarfile.open(bundles.iris.with_name(bundles.iris.name + ".tar.gz")) as archive:
        archive.extractall(model_dir, filter="data")
    # A fractional keep-alive made the container exit (int-only parser) before one settings object read it.
    server = start(
        model_dir, model_dir.parent / "iris-server.log", MAASKIT_BATCH_MAX_WAIT_MS="5", MAASKIT_KEEP_ALIVE_S="2.5"
    )
    yield server
    assert server.stop() in (0, -15)
    log = server.log.read_text()
    assert "shut down: 1 request batcher(s) closed" in log and "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="module")
def iris_samples(bundles: BuiltBundles) -> tuple[np.ndarray, list[str]]:
    samples = open_bundle(bundles.iris).samples()
    return samples.inputs["X"], [str(label) for label in samples.outputs["label"]]


def test_ping_is_healthy_once_loaded(iris_server: Server) -> None:
    response = httpx.get(f"{iris_server.url}/ping")
    assert response.status_code == 200
    assert response.json() == {"status": "Healthy"}


def test_invocations_json(iris_server: Server, iris_samples: tuple[np.ndarray, list[str]]) -> None:
    rows, labels = iris_samples
    response = httpx.post(f"{iris_server.url}/invocations", json={"instances": rows.tolist()})
    assert response.status_code == 200, response.text
    assert response.json()["labels"] == labels


def test_invocations_csv(iris_server: Server, iris_samples: tuple[np.ndarray, list[str]]) -> None:
    rows, labels = iris_samples
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in rows)
    response = httpx.post(
        f"{iris_server.url}/invocations", content=body, headers={"content-type": "text/csv", "accept": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.split() == labels


def test_invocations_npy(iris_server: Server, iris_samples: tuple[np.ndarray, list[str]]) -> None:
    rows, labels = iris_samples
    buffer = io.BytesIO()
    np.save(buffer, rows.astype(np.float32), allow_pickle=False)
    response = httpx.post(
        f"{iris_server.url}/invocations",
        content=buffer.getvalue(),
        headers={"content-type": "application/x-npy", "accept": "application/x-npy"},
    )
    assert response.status_code == 200, response.text
    answer = np.load(io.BytesIO(response.content), allow_pickle=False)
    assert answer.tolist() == labels


def test_concurrent_requests_through_the_batcher_each_get_their_own_answer(
    iris_server: Server, iris_samples: tuple[np.ndarray, list[str]]
) -> None:
    rows, labels = iris_samples

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=iris_server.url, timeout=10) as client:
            calls = [client.post("/invocations", json={"instances": [rows[i % len(rows)].tolist()]}) for i in range(24)]
            return list(await asyncio.gather(*calls))

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 24
    assert [r.json()["labels"] for r in responses] == [[labels[i % len(rows)]] for i in range(24)]


def test_bad_input_is_a_4xx_naming_the_problem_and_does_not_disturb_the_server(iris_server: Server) -> None:
    response = httpx.post(f"{iris_server.url}/invocations", json={"instances": [[1.0, 2.0]]})
    assert 400 <= response.status_code < 500
    assert "X" in response.json()["error"]
    assert httpx.get(f"{iris_server.url}/ping").status_code == 200


def test_several_bundles_in_the_model_dir_are_served_and_sigterm_stops_cleanly(
    bundles: BuiltBundles, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for source in (bundles.adder_v1, bundles.adder_v2):
        (model_dir / source.name).symlink_to(source, target_is_directory=True)
    archive = bundles.regressor.with_name(bundles.regressor.name + ".tar.gz")
    (model_dir / archive.name).write_bytes(archive.read_bytes())
    server = start(model_dir, tmp_path / "server.log", MAASKIT_BATCHING="0")
    try:
        body = {"inputs": {"a": [[1, 2]], "b": [[10, 20]]}}
        latest = httpx.post(f"{server.url}/invocations", json=body, headers={"X-Maaskit-Model": "adder"})
        pinned = httpx.post(
            f"{server.url}/invocations",
            json=body,
            headers={"X-Amzn-SageMaker-Custom-Attributes": "model=adder,version=1.0.0"},
        )
        regressor = httpx.post(
            f"{server.url}/invocations",
            json={"instances": [[0.01, 0.02, 0.03]]},
            headers={"X-Maaskit-Model": "diabetes"},
        )
        unnamed = httpx.post(f"{server.url}/invocations", json=body)
    finally:
        code = server.stop()
    assert latest.json()["predictions"] == [[22, 44]], latest.text
    assert pinned.json()["predictions"] == [[11, 22]], pinned.text
    assert regressor.status_code == 200 and regressor.json()["version"] == "2.1.0"
    assert unnamed.status_code == 400 and "X-Maaskit-Model" in unnamed.json()["error"]
    log = server.log.read_text()
    # uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status is -15 (or 0).
    assert code in (0, -15), log[-3000:]
    assert "shut down: inference stopped" in log and "Traceback" not in log


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (["train"], {}, 2, "usage: python -m handlers.sagemaker_entry [serve]"),
        (["serve"], {"SAGEMAKER_BIND_TO_PORT": "eighty"}, 2, "SAGEMAKER_BIND_TO_PORT='eighty' must be a whole number"),
        (["serve"], {"MAASKIT_BATCH_MAX_WAIT_MS": "soon"}, 2, "MAASKIT_BATCH_MAX_WAIT_MS"),
        (["serve"], {"SM_MODEL_DIR": "/nonexistent/model"}, 1, "cannot serve the model: /nonexistent/model does not"),
    ],
)
def test_bad_arguments_and_settings_exit_with_a_message(
    tmp_path: Path, args: list[str], env: dict[str, str], code: int, message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "handlers.sagemaker_entry", *args],
        env={**entry_env(tmp_path), "SAGEMAKER_BIND_TO_PORT": str(free_port()), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_container_settings_have_the_containers_defaults() -> None:
    settings = container_settings({}, gpu_count=0)
    assert (settings.host, settings.port, settings.workers, settings.keep_alive_s) == ("0.0.0.0", 8080, 1, 75.0)
    assert (settings.batching, settings.decode_processes, settings.request_timeout_s) == (True, 2, 60.0)
    assert container_settings({}, gpu_count=4).workers == 4
    settings = container_settings(
        {"SAGEMAKER_BIND_TO_PORT": "9090", "SAGEMAKER_MODEL_SERVER_WORKERS": "3", "MAASKIT_BATCH_MAX_SIZE": "8"},
        gpu_count=1,
    )
    assert (settings.port, settings.workers, settings.batch_max_size) == (9090, 3, 8)
    both = {"MAASKIT_WORKERS": "2", "SAGEMAKER_MODEL_SERVER_WORKERS": "5"}
    assert container_settings(both, gpu_count=0).workers == 2
    assert container_settings({"MAASKIT_KEEP_ALIVE_S": "2.5"}, gpu_count=0).keep_alive_s == 2.5
    with pytest.raises(SettingsError, match="1 and 65535"):
        container_settings({"SAGEMAKER_BIND_TO_PORT": "70000"}, gpu_count=0)
    with pytest.raises(SettingsError, match="at least 1"):
        container_settings({"MAASKIT_WORKERS": "0"}, gpu_count=0)


def test_cuda_is_preferred_when_offered_and_cpu_fallback_is_logged() -> None:
    assert default_providers(["CUDAExecutionProvider", "CPUExecutionProvider"]) == (
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    )
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect()
    logger = logging.getLogger("maaskit.sagemaker")
    logger.addHandler(handler)
    try:
        assert default_providers(["CPUExecutionProvider"]) == ("CPUExecutionProvider",)
    finally:
        logger.removeHandler(handler)
    assert [r.levelno for r in records] == [logging.WARNING]
    assert "onnxruntime-gpu" in records[0].getMessage()


def test_build_app_puts_a_batcher_in_front_of_every_model_unless_disabled(bundles: BuiltBundles) -> None:
    env = {"SM_MODEL_DIR": str(bundles.adder_v1), "MAASKIT_ACCESS_LOG": "false", "MAASKIT_INTRA_OP_THREADS": "1"}
    app = build_app(env, container_settings(env, gpu_count=0))
    runtimes = app.state.repository.runtimes()
    assert [r.key for r in runtimes] == ["adder-1.0.0"]
    assert isinstance(getattr(runtimes[0].infer, "__self__", None), MicroBatcher)
    assert app.state.settings.providers == default_providers()

    off = {**env, "MAASKIT_BATCHING": "0", "MAASKIT_PROVIDERS": "cpu"}
    app = build_app(off, container_settings(off, gpu_count=0))
    runtime = app.state.repository.runtimes()[0]
    assert not isinstance(getattr(runtime.infer, "__self__", None), MicroBatcher)
    assert app.state.settings.providers == ("CPUExecutionProvider",)


def test_gpus_are_shared_round_robin_between_worker_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2,5"}) == ["2", "5"]
    picks = []
    for _ in range(3):
        env = {"CUDA_VISIBLE_DEVICES": "2,5"}  # each worker process starts with the server's environment
        picks.append(assign_worker_gpu(env))
        assert env["CUDA_VISIBLE_DEVICES"] == picks[-1]
    assert picks == ["2", "5", "2"]
    assert assign_worker_gpu({"CUDA_VISIBLE_DEVICES": "7"}) == "7"
