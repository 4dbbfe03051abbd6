"""Shared benchmark pieces: bundles made on the spot, servers started and stopped by pid, timing stats, tables.

Every loop here is bounded in count and in time, and all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PYTHON = sys.executable


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A server process we started; stopped by its pid only."""

    process: subprocess.Popen[bytes]
    url: str
    name: str

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s, by pid."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def start_server(
    name: str,
    command: Sequence[str],
    port: int,
    env: dict[str, str],
    ready_path: str = "/ping",
) -> Server:
    """Start ``command`` (which listens on ``port``) and wait up to 60 s for ``ready_path`` to answer 200."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MAASKIT_", "SM_", "SAGEMAKER_"))}
    full_env.update(env)
    OUT.mkdir(parents=True, exist_ok=True)
    sink = (OUT / f"{name}.log").open("wb")
    process = subprocess.Popen(list(command), env=full_env, cwd=ROOT, stdout=sink, stderr=sink)
    sink.close()
    server = Server(process, f"http://127.0.0.1:{port}", name)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see {OUT / (name + '.log')}")
        try:
            with urllib.request.urlopen(server.url + ready_path, timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} did not become ready on port {port} within 60 s")


def sagemaker_env(bundle: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a SageMaker-entry server on loopback for ``bundle`` (one ORT thread, no access log)."""
    return {
        "SM_MODEL_DIR": str(bundle),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "MAASKIT_HOST": "127.0.0.1",
        "MAASKIT_INTRA_OP_THREADS": "1",
        "MAASKIT_ACCESS_LOG": "false",
        **extra,
    }


def maaskit_serve(bundle: Path, port: int, *, threads: int = 1, **env: str) -> list[str]:
    """The command line of ``maaskit serve`` for one bundle."""
    del env
    return [PYTHON, "-m", "maaskit", "serve", str(bundle), "--port", str(port), "--threads", str(threads)]


@dataclass(frozen=True)
class Timing:
    """Throughput and latency percentiles of one measured cell."""

    rps: float
    p50_ms: float
    p99_ms: float
    count: int
    errors: int = 0


def time_calls(call: Callable[[], object], duration_s: float, max_calls: int = 200_000, warmup: int = 20) -> Timing:
    """Call ``call`` back to back for ``duration_s`` (at most ``max_calls``); per-call latency percentiles."""
    for _ in range(warmup):
        call()
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + duration_s
    while len(latencies) < max_calls:
        begin = time.perf_counter()
        call()
        end = time.perf_counter()
        latencies.append(end - begin)
        if end >= deadline:
            break
    elapsed = time.perf_counter() - started
    return timing_from(latencies, elapsed)


def timing_from(latencies: Sequence[float], elapsed: float, errors: int = 0) -> Timing:
    """Timing from per-request latencies (seconds) over ``elapsed`` wall seconds."""
    array = np.asarray(latencies) * 1000.0
    return Timing(
        rps=len(array) / elapsed if elapsed > 0 else 0.0,
        p50_ms=float(np.percentile(array, 50)),
        p99_ms=float(np.percentile(array, 99)),
        count=len(array),
        errors=errors,
    )


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence."""
    return float(statistics.median(values))


def median_timing(timings: Sequence[Timing]) -> Timing:
    """Per-figure medians of several measurements of one cell (counts and errors summed)."""
    return Timing(
        rps=median([t.rps for t in timings]),
        p50_ms=median([t.p50_ms for t in timings]),
        p99_ms=median([t.p99_ms for t in timings]),
        count=sum(t.count for t in timings),
        errors=sum(t.errors for t in timings),
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; floats get a sensible number of digits."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            if value >= 100:
                return f"{value:,.0f}"
            if value >= 1:
                return f"{value:.2f}"
            return f"{value:.3f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_line() -> str:
    """One line describing where the figures were taken."""
    import onnxruntime

    return (
        f"Python {sys.version.split()[0]}, onnxruntime {onnxruntime.__version__}, {os.cpu_count()} CPU(s) "
        f"(shared), load average {os.getloadavg()[0]:.2f} at start"
    )


def rounds_main(
    doc: str | None, run: Callable[[float, int], str], argv: list[str] | None, *, duration: float, rounds: int
) -> str:
    """Command line of a benchmark measured in alternating rounds: ``--duration`` per cell, ``--rounds``."""
    import argparse

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=duration, help=f"seconds per cell (default {duration:g})")
    parser.add_argument("--rounds", type=int, default=rounds, help=f"alternating rounds per cell (default {rounds})")
    args = parser.parse_args(argv)
    report = run(args.duration, args.rounds)
    print(report)
    return report
