"""Request batching in the SageMaker container entry: throughput at concurrency 16 with and without it.

The model is an MLP (512 -> 2048 -> 2048 -> 10, float32, ~21 MB of weights) whose single-row run is bound
by reading its weights, so one run over 16 rows costs little more than one over a single row: the case
batching is for. Each client request is one row, JSON, to ``POST /invocations``. onnxruntime gets one
intra-op thread in every configuration.

    python -m bench.batching [--duration 4]
"""

from __future__ import annotations

import contextlib
import json

import numpy as np
import onnxruntime as ort

from bench.common import OUT, PYTHON, free_port, rounds_main, sagemaker_env, start_server, table, time_calls
from bench.loadgen import generator_name, interleaved
from bench.models import mlp_bundle

CONFIGS = {
    "batching off": {"MAASKIT_BATCHING": "0"},
    "batching on (max 32 rows, wait 2 ms)": {"MAASKIT_BATCHING": "1", "MAASKIT_BATCH_MAX_WAIT_MS": "2"},
    "batching on (max 32 rows, wait 0 ms)": {"MAASKIT_BATCHING": "1", "MAASKIT_BATCH_MAX_WAIT_MS": "0"},
}
CONCURRENCY = (1, 16)


def run(duration: float = 4.0, rounds: int = 2) -> str:
    """Measure and return the Markdown section."""
    bundle = mlp_bundle(OUT / "bundles")
    row = np.random.default_rng(0).normal(size=(1, 512)).astype(np.float32)
    body = json.dumps({"instances": row.tolist()}).encode()

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(bundle / "model.onnx"), options, providers=["CPUExecutionProvider"])
    single = time_calls(lambda: session.run(None, {"x": row}), 1.0)
    sixteen = np.repeat(row, 16, axis=0)
    batched = time_calls(lambda: session.run(None, {"x": sixteen}), 1.0)

    with contextlib.ExitStack() as stack:
        urls = {}
        for name, env in CONFIGS.items():
            port = free_port()
            full_env = sagemaker_env(bundle, port, **env)
            command = [PYTHON, "-m", "handlers.sagemaker_entry", "serve"]
            server = stack.enter_context(
                start_server(
                    name.split(" (")[0].replace(" ", "-") + env.get("MAASKIT_BATCH_MAX_WAIT_MS", ""),
                    command,
                    port,
                    full_env,
                )
            )
            urls[name] = server.url + "/invocations"
        measured = interleaved(urls, {c: (body, c) for c in CONCURRENCY}, "application/json", duration, rounds)
    lines = []
    for concurrency in CONCURRENCY:
        base = measured[("batching off", concurrency)]
        for name in CONFIGS:
            cell = measured[(name, concurrency)]
            lines.append([name, concurrency, cell.rps, cell.p50_ms, cell.p99_ms, cell.rps / base.rps, cell.errors])
    return (
        "## Request batching (SageMaker entry, MLP 512-2048-2048-10, one row per request)\n\n"
        f"Load generator: {generator_name()}; servers side by side, measured in turns, median of {rounds} rounds "
        f"of {duration:g} s per cell. In-process session.run: "
        f"1 row {single.p50_ms:.2f} ms, 16 rows {batched.p50_ms:.2f} ms (p50).\n\n"
        + table(["server", "conc", "req/s", "p50 ms", "p99 ms", "x batching off", "errors"], lines)
        + "\n"
    )


def main(argv: list[str] | None = None) -> str:
    """Command line entry; prints and returns the Markdown section."""
    return rounds_main(__doc__, run, argv, duration=4.0, rounds=2)


if __name__ == "__main__":
    main()
