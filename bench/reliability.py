"""Reliability as measured figures: a soak under load, resident memory over time, and fuzzing by schemathesis.

1. Soak: ``maaskit serve`` and the SageMaker entry with request batching, each loaded in turn by 32 keep-alive
   connections (``bench.soak_client``, its own process) for ``--duration`` seconds (default 60) after a 3 s
   warm-up. Every non-2xx answer or dropped connection is an error. The server's resident memory (its process
   tree) is sampled every second; growth compares the mean of the first 10 s with the mean of the last 10 s.
2. Fuzzing: schemathesis over the served ``/openapi.json`` (``bench.openapi_fuzz``), in-process through the
   ASGI app and through the Lambda handler (API Gateway v2 events). Every 5xx or exception is counted.
3. Hostile clients (``bench.hostile``): slow-client probes cut off (count, time to cut), 5xx under a
   disconnect storm, ``/ping`` p99 while four 5 MB requests run. ``--hostile-only`` runs just this part.

Writes ``bench/out/reliability.png`` (latency per second and memory) and prints the Markdown section.

    python -m bench.reliability [--duration 60] [--concurrency 32] [--fuzz-examples 150] [--hostile-only]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import hostile
from bench.common import OUT, PYTHON, ROOT, free_port, start_server, table
from bench.models import TABULAR_FEATURES, tabular_bundle

__all__ = ["Soak", "process_tree_rss", "run"]

WARMUP_S = 3.0
WINDOW_S = 10
GROWTH_LIMIT = 0.05
PLOT = OUT / "reliability.png"


@dataclass
class Soak:
    """One server's soak: the client's summary and the memory samples (seconds since start, bytes)."""

    name: str
    client: dict[str, Any]
    rss: list[tuple[float, int]]

    @property
    def growth(self) -> float:
        """Relative growth of mean RSS from the first ``WINDOW_S`` seconds to the last ``WINDOW_S`` seconds."""
        times = np.asarray([t for t, _ in self.rss])
        values = np.asarray([v for _, v in self.rss], dtype=np.float64)
        first = values[times < times[0] + WINDOW_S].mean()
        last = values[times > times[-1] - WINDOW_S].mean()
        return float((last - first) / first)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def process_tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants (psutil when installed, else ``/proc/<pid>/status``)."""
    try:
        import psutil
    except ImportError:
        total, stack = 0, [pid]
        while stack:
            current = stack.pop()
            try:
                status = Path(f"/proc/{current}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            stack += _children(current)
        return total
    root = psutil.Process(pid)
    processes = [root, *root.children(recursive=True)]
    return sum(p.memory_info().rss for p in processes if p.is_running())


def _client(url: str, body_file: Path, concurrency: int, seconds: float) -> subprocess.Popen[str]:
    command = [
        PYTHON,
        "-m",
        "bench.soak_client",
        url,
        str(body_file),
        "application/json",
        str(concurrency),
        str(seconds),
    ]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def soak(name: str, command: list[str], port: int, env: dict[str, str], path: str, body: bytes, **load: float) -> Soak:
    """Start a server, warm it up, load it for ``duration`` s at ``concurrency`` and sample its RSS each second."""
    duration, concurrency = float(load["duration"]), int(load["concurrency"])
    with tempfile.TemporaryDirectory() as scratch, start_server(name, command, port, env) as server:
        body_file = Path(scratch) / "body.json"
        body_file.write_bytes(body)
        url = server.url + path
        warm = _client(url, body_file, concurrency, WARMUP_S)
        warm.communicate(timeout=WARMUP_S + 60)
        client = _client(url, body_file, concurrency, duration)
        samples: list[tuple[float, int]] = []
        started = time.monotonic()
        while client.poll() is None and time.monotonic() - started < duration + 60:
            samples.append((time.monotonic() - started, process_tree_rss(server.process.pid)))
            time.sleep(1.0)
        output, errors = client.communicate(timeout=60)
        if client.returncode != 0:
            raise RuntimeError(f"the load client failed for {name}: {errors[-2000:]}")
        if server.process.poll() is not None:
            raise RuntimeError(f"{name} died under load (exit {server.process.returncode}); see {OUT / name}.log")
    return Soak(name, json.loads(output), samples)


def _servers(bundle: Path) -> list[tuple[str, list[str], int, dict[str, str], str]]:
    serve_port, sagemaker_port = free_port(), free_port()
    cli = [PYTHON, "-c", "from maaskit.cli import main; main()"]
    return [
        (
            "maaskit serve",
            [*cli, "serve", str(bundle), "--port", str(serve_port), "--threads", "1"],
            serve_port,
            {"MAASKIT_ACCESS_LOG": "false"},
            "/models/tabular/predict",
        ),
        (
            "SageMaker entry, batching on",
            [PYTHON, "-m", "handlers.sagemaker_entry", "serve"],
            sagemaker_port,
            {
                "SM_MODEL_DIR": str(bundle),
                "SAGEMAKER_BIND_TO_PORT": str(sagemaker_port),
                "MAASKIT_HOST": "127.0.0.1",
                "MAASKIT_INTRA_OP_THREADS": "1",
                "MAASKIT_ACCESS_LOG": "false",
                "MAASKIT_BATCHING": "1",
                "MAASKIT_BATCH_MAX_WAIT_MS": "2",
            },
            "/invocations",
        ),
    ]


def plot(soaks: list[Soak], path: Path = PLOT) -> Path:
    """Latency (p50, p99) per second and resident memory over the soak, one line per server; a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, memory) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    for soaked in soaks:
        seconds = [row["second"] for row in soaked.client["per_second"]]
        line = latency.plot(seconds, [row["p50_ms"] for row in soaked.client["per_second"]], label=f"{soaked.name} p50")
        colour = line[0].get_color()
        latency.plot(seconds, [row["p99_ms"] for row in soaked.client["per_second"]], "--", color=colour)
        memory.plot([t for t, _ in soaked.rss], [v / 2**20 for _, v in soaked.rss], color=colour, label=soaked.name)
    latency.set_ylabel("latency per second, ms (solid p50, dashed p99)")
    latency.set_ylim(bottom=0)
    latency.legend(loc="upper right", fontsize="small")
    memory.set_ylabel("server RSS, MiB")
    memory.set_xlabel("seconds into the soak")
    memory.legend(loc="lower right", fontsize="small")
    figure.suptitle("Soak: 32 keep-alive connections on loopback")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(staged, dpi=110)
    plt.close(figure)
    staged.replace(path)
    return path


def fuzz(examples: int) -> list[tuple[str, Any]]:
    """schemathesis over the served document: ASGI app, then the Lambda handler; (name, FuzzResult) pairs."""
    import importlib
    import sys

    from bench.openapi_fuzz import fuzz_app, lambda_caller
    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.settings import Settings
    from tests.handlers.bundles import build_bundles

    with tempfile.TemporaryDirectory() as scratch:
        built = build_bundles(Path(scratch))
        locations = os.pathsep.join(str(p) for p in built.all)
        settings = Settings.load({}, bundles=locations, access_log=False, metrics="none", intra_op_threads=1)
        repository = ModelRepository.load(settings)
        app = create_app(repository, settings)
        models = {name: repository.version_names(name) for name in repository.names()}
        os.environ.update({"MAASKIT_BUNDLES": locations, "MAASKIT_ACCESS_LOG": "false", "MAASKIT_METRICS": "none"})
        sys.modules.pop("handlers.lambda_entry", None)
        handler = importlib.import_module("handlers.lambda_entry").handler
        return [
            ("ASGI app (as `maaskit serve` runs it)", fuzz_app(app, examples, models)),
            ("Lambda handler (API Gateway v2 events)", fuzz_app(app, examples, models, lambda_caller(handler))),
        ]


def run(duration: float = 60.0, concurrency: int = 32, fuzz_examples: int = 150) -> str:
    """Soak both servers, fuzz both entries, plot; returns the Markdown section."""
    bundle = tabular_bundle(OUT / "bundles")
    row = np.random.default_rng(0).normal(size=(1, TABULAR_FEATURES)).astype(np.float32).tolist()
    bodies = {"/models/tabular/predict": {"inputs": {"X": row}}, "/invocations": {"instances": row}}
    soaks = []
    for name, command, port, env, path in _servers(bundle):
        log_name = name.split(",")[0].replace(" ", "-").lower() + "-soak"
        body = json.dumps(bodies[path]).encode()
        soaked = soak(log_name, command, port, env, path, body, duration=duration, concurrency=concurrency)
        soaked.name = name
        soaks.append(soaked)
    image = plot(soaks)
    soak_rows = [
        [
            s.name,
            s.client["count"],
            s.client["errors"],
            s.client["rps"],
            s.client["p50_ms"],
            s.client["p99_ms"],
            f"{s.growth * 100:+.2f}%",
            "yes" if s.client["errors"] == 0 and s.growth < GROWTH_LIMIT else "NO",
        ]
        for s in soaks
    ]
    fuzzed = fuzz(fuzz_examples)
    fuzz_rows = [
        [name, r.operations, r.requests, r.server_errors, ", ".join(f"{k}: {v}" for k, v in sorted(r.statuses.items()))]
        for name, r in fuzzed
    ]
    failures = "".join(f"\n```\n{line}\n```\n" for _, r in fuzzed for line in r.failures[:5])
    total = sum(r.requests for _, r in fuzzed)
    bad = sum(r.server_errors for _, r in fuzzed)
    return (
        "## Reliability: soak, memory and fuzzing\n\n"
        f"Soak: {concurrency} keep-alive connections, {duration:g} s per server after a {WARMUP_S:g} s warm-up, one "
        "JSON row per request (the tabular classifier), loopback; the servers run one after the other. "
        f"Error = any non-2xx answer or dropped connection. RSS = the server's process tree, sampled each second; "
        f"growth = mean of the last {WINDOW_S} s vs the first {WINDOW_S} s (goal: 0 errors, growth < 5%).\n\n"
        + table(["server", "requests", "errors", "req/s", "p50 ms", "p99 ms", "RSS growth", "goal met"], soak_rows)
        + f"\n\n![latency and memory over the soak]({image.name})\n\n"
        f"Fuzzing: schemathesis {_schemathesis_version()} over the served `/openapi.json`, {fuzz_examples} generated "
        "requests per operation, half of them naming a served model (so bodies reach validation). "
        f"**{total} requests, {bad} answered 5xx or crashed.**\n\n"
        + table(["entry", "operations", "requests", "5xx or crash", "statuses"], fuzz_rows)
        + "\n"
        + failures
        + "\n"
        + hostile.run()
    )


def _schemathesis_version() -> str:
    from importlib.metadata import version

    return version("schemathesis")


def main(argv: list[str] | None = None) -> str:
    """Command line entry; prints and returns the Markdown section."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0, help="soak seconds per server (default 60)")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections (default 32)")
    parser.add_argument("--fuzz-examples", type=int, default=150, help="generated requests per operation (default 150)")
    parser.add_argument("--hostile-only", action="store_true", help="only the hostile-client measurements")
    args = parser.parse_args(argv)
    if args.hostile_only:
        report = hostile.run()
        print(report)
        return report
    if args.duration < 2 * WINDOW_S:
        parser.error(f"--duration must be at least {2 * WINDOW_S} s to compare the first and last {WINDOW_S} s")
    report = run(args.duration, args.concurrency, args.fuzz_examples)
    print(report)
    return report


if __name__ == "__main__":
    main()
