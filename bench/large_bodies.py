"""``/ping`` while four large JSON bodies are decoded: ``maaskit serve`` beside the SageMaker entry.

Each server runs on loopback with one onnxruntime thread and no access log; four clients in another
process post the same JSON body (default 4 MB of rows) at once, and ``/ping`` is timed every 10 ms
until they end. Rows, side by side in one run:

- the SageMaker entry (``python -m handlers.sagemaker_entry``), ``POST /invocations``;
- ``maaskit serve``, ``POST /invocations`` (decode processes, ``MAASKIT_DECODE_PROCESSES`` default 2);
- ``maaskit serve`` with ``MAASKIT_DECODE_PROCESSES=0`` (decoding in threads only: the earlier ``serve``);
- ``maaskit serve``, ``POST /models/{m}/predict`` (maaskit JSON, parsed in a decode process as well).

    python -m bench.large_bodies [--mb 4] [--rounds 1]

Figures move with the machine's load: compare the rows of one run, never absolute figures across days.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from bench.common import OUT, PYTHON, free_port, machine_line, sagemaker_env, start_server, table
from bench.hostile_clients import ping_under_large_bodies
from bench.models import TABULAR_FEATURES, tabular_bundle

__all__ = ["CASES", "main", "measure"]

QUIET = {"MAASKIT_ACCESS_LOG": "false", "MAASKIT_MAX_RESPONSE_BYTES": "0", "MAASKIT_BATCHING": "0"}
#: (label, entry, route, extra environment)
CASES: list[tuple[str, str, str, dict[str, str]]] = [
    ("SageMaker entry", "sagemaker", "/invocations", {}),
    ("maaskit serve", "serve", "/invocations", {}),
    ("maaskit serve, MAASKIT_DECODE_PROCESSES=0", "serve", "/invocations", {"MAASKIT_DECODE_PROCESSES": "0"}),
    ("maaskit serve", "serve", "/models/tabular/predict", {}),
]


def json_body(megabytes: float, key: str = "instances") -> bytes:
    """``{key: [...]}`` of about ``megabytes`` MB of tabular rows."""
    row = "[" + ", ".join(["0.5"] * TABULAR_FEATURES) + "],"
    return ('{"' + key + '": [' + row * int(megabytes * 1e6 // len(row)) + row[:-1] + "]}").encode()


def _server(entry: str, bundle: Path, port: int, extra: dict[str, str]):
    if entry == "sagemaker":
        env = sagemaker_env(bundle, port, **QUIET, **extra)
        return start_server("large-bodies-sagemaker", [PYTHON, "-m", "handlers.sagemaker_entry"], port, env)
    env = {"MAASKIT_INTRA_OP_THREADS": "1", **QUIET, **extra}
    command = [PYTHON, "-m", "maaskit", "serve", str(bundle), "--port", str(port)]
    return start_server("large-bodies-serve", command, port, env)


def idle_pings(url: str, count: int = 100) -> list[float]:
    """``count`` /ping latencies (s), one every 10 ms, with nothing else sent."""
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        with urllib.request.urlopen(url + "/ping", timeout=10) as answer:
            answer.read()
        latencies.append(time.perf_counter() - started)
        time.sleep(0.01)
    return latencies


def measure(entry: str, route: str, extra: dict[str, str], body_file: Path, bundle: Path) -> dict[str, float]:
    """Idle /ping p99, then /ping p50/p99 while four clients post ``body_file`` to ``route``."""
    port = free_port()
    headers = {"Content-Type": "application/json", "X-Maaskit-Model": "tabular"}
    with _server(entry, bundle, port, extra) as server:
        idle = idle_pings(server.url)
        loaded, statuses = ping_under_large_bodies(server.url, str(body_file), path=route, headers=headers)
    return {
        "idle p99 ms": float(np.percentile(idle, 99)) * 1000,
        "p50 ms": float(np.percentile(loaded, 50)) * 1000 if loaded else float("nan"),
        "p99 ms": float(np.percentile(loaded, 99)) * 1000 if loaded else float("nan"),
        "pings": len(loaded),
        "answers 200": statuses.count(200),
    }


def run(megabytes: float = 4.0, rounds: int = 1) -> str:
    """Every case ``rounds`` times (interleaved); returns the Markdown section."""
    bundle = tabular_bundle(OUT / "bundles")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        bodies = {key: Path(scratch) / f"{key}.json" for key in ("instances", "rows")}
        for key, path in bodies.items():
            path.write_bytes(json_body(megabytes, key))
        size = bodies["instances"].stat().st_size / 1e6
        for number in range(rounds):
            for label, entry, route, extra in CASES:
                body_file = bodies["rows" if route.startswith("/models/") else "instances"]
                figures = measure(entry, route, extra, body_file, bundle)
                cells = [f"{value:.1f}" if isinstance(value, float) else value for value in figures.values()]
                rows.append([label, f"POST {route}", number + 1, *cells])
    headers = ["server", "large requests", "round", "idle p99 ms", "p50 ms", "p99 ms", "pings", "answers 200"]
    return (
        f"## /ping under four {size:.1f} MB JSON bodies ({machine_line()})\n\n"
        "Four clients in another process post the body at once; /ping every 10 ms until they end.\n\n"
        + table(headers, rows)
        + "\n"
    )


def main(argv: list[str] | None = None) -> str:
    """Command line entry; prints and returns the Markdown section."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=4.0, help="size of each JSON body in MB (default 4)")
    parser.add_argument("--rounds", type=int, default=1, help="times each case runs, interleaved (default 1)")
    args = parser.parse_args(argv)
    report = run(args.mb, max(1, min(args.rounds, 5)))
    print(report)
    return report


if __name__ == "__main__":
    main()
