"""``maaskit serve`` vs a minimal FastAPI + onnxruntime route vs in-process ``session.run`` (the floor).

A small tabular classifier (scikit-learn LogisticRegression, 8 features), batch 1 and 32, concurrency 1 and
16, one server process each, uvicorn's access log off in both, onnxruntime with one intra-op thread in all
three. maaskit runs with every feature on (validation, labels, structured log line, Prometheus metrics).

    python -m bench.serve_throughput [--duration 3]
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bench.common import OUT, PYTHON, Server, free_port, rounds_main, start_server, table, time_calls
from bench.loadgen import generator_name, interleaved
from bench.models import TABULAR_FEATURES, tabular_bundle

BATCHES = (1, 32)
CONCURRENCY = (1, 16)


def _post(url: str, body: bytes) -> dict[str, object]:
    request = urllib.request.Request(url, body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, object] = json.loads(response.read())
        return answer


def _servers(bundle_dir: str, model_path: str) -> list[tuple[str, str, list[str], dict[str, str]]]:
    maaskit = str(Path(PYTHON).with_name("maaskit"))
    return [
        (
            "maaskit serve",
            "/models/tabular/predict",
            [maaskit, "serve", bundle_dir, "--threads", "1", "--port"],
            {},
        ),
        (
            "minimal route",
            "/predict",
            [PYTHON, "-m", "uvicorn", "bench.minimal_app:app", "--no-access-log", "--log-level", "warning", "--port"],
            {"BENCH_MODEL": model_path, "BENCH_THREADS": "1"},
        ),
    ]


def _check_answer(server: Server, path: str, body: bytes) -> None:
    answer = _post(server.url + path, body)
    text = json.dumps(answer)
    if "label" not in text:
        raise RuntimeError(f"{server.name} answered without a label: {text[:300]}")


def _runner(session: ort.InferenceSession, x: np.ndarray) -> Callable[[], object]:
    return lambda: session.run(None, {"X": x})


def run(duration: float = 3.0, rounds: int = 3) -> str:
    """Measure every cell and return the Markdown section."""
    bundle = tabular_bundle(OUT / "bundles")
    rng = np.random.default_rng(0)
    rows = {batch: rng.normal(size=(batch, TABULAR_FEATURES)).astype(np.float32) for batch in BATCHES}
    bodies = {batch: json.dumps({"inputs": {"X": rows[batch].tolist()}}).encode() for batch in BATCHES}

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(bundle / "model.onnx"), options, providers=["CPUExecutionProvider"])
    floor = {batch: time_calls(_runner(session, rows[batch]), min(duration, 1.0)) for batch in BATCHES}

    with contextlib.ExitStack() as stack:
        urls = {}
        for name, path, command, env in _servers(str(bundle), str(bundle / "model.onnx")):
            port = free_port()
            server = stack.enter_context(start_server(name.replace(" ", "-"), [*command, str(port)], port, env))
            _check_answer(server, path, bodies[1])
            urls[name] = server.url + path
        cells = {(b, c): (bodies[b], c) for b in BATCHES for c in CONCURRENCY}
        measured = interleaved(urls, cells, "application/json", duration, rounds)
    lines = []
    for batch in BATCHES:
        for concurrency in CONCURRENCY:
            base = measured[("minimal route", (batch, concurrency))]
            for name in ("maaskit serve", "minimal route"):
                cell = measured[(name, (batch, concurrency))]
                lines.append(
                    [
                        name,
                        batch,
                        concurrency,
                        cell.rps,
                        cell.p50_ms,
                        cell.p99_ms,
                        cell.rps / base.rps,
                        cell.p99_ms / base.p99_ms,
                        cell.errors,
                    ]
                )
            lines.append(
                [
                    "session.run (floor)",
                    batch,
                    "-",
                    floor[batch].rps,
                    floor[batch].p50_ms,
                    floor[batch].p99_ms,
                    floor[batch].rps / base.rps,
                    "-",
                    0,
                ]
            )
    headers = ["server", "batch", "conc", "req/s", "p50 ms", "p99 ms", "x minimal req/s", "x minimal p99", "errors"]
    return (
        "## Serving throughput (small tabular model)\n\n"
        f"Load generator: {generator_name()}; both servers up side by side and measured in turns, "
        f"median of {rounds} rounds of {duration:g} s per cell after a 1 s warm-up.\n"
        "Goal: maaskit >= 1.0x the minimal route's req/s, p99 ratio <= 1.0.\n\n" + table(headers, lines) + "\n"
    )


def main(argv: list[str] | None = None) -> str:
    """Command line entry; prints and returns the Markdown section."""
    return rounds_main(__doc__, run, argv, duration=3.0, rounds=3)


if __name__ == "__main__":
    main()
