"""HTTP load for the serving benchmarks: ``wrk`` when installed, else a keep-alive asyncio client in its own process.

``wrk`` (C, one thread) is the generator of record: it is not the bottleneck. The fallback is a plain
asyncio HTTP/1.1 client with pre-encoded requests, run in a separate process so that it never shares
the server's event loop; it is slower than wrk, so its figures understate the server.

Run directly as the fallback worker: ``python -m bench.loadgen URL BODY_FILE CONTENT_TYPE CONCURRENCY SECONDS``.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from bench.common import PYTHON, ROOT, Timing, median_timing, timing_from

__all__ = ["generator_name", "interleaved", "run_load"]

MAX_REQUESTS = 2_000_000
K = TypeVar("K", bound=Hashable)
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def generator_name() -> str:
    """Which load generator :func:`run_load` uses here."""
    return "wrk 4 (1 thread, keep-alive)" if shutil.which("wrk") else "asyncio client (separate process)"


def _wrk(url: str, body: bytes, content_type: str, concurrency: int, duration_s: float) -> Timing:
    with tempfile.TemporaryDirectory() as scratch:
        body_file = Path(scratch) / "body"
        body_file.write_bytes(body)
        script = Path(scratch) / "post.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            f'wrk.headers["Content-Type"] = "{content_type}"\n'
            f'local f = assert(io.open("{body_file}", "rb"))\nwrk.body = f:read("*a")\nf:close()\n'
        )
        command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration_s))}s", "--latency", "-s", str(script)]
        result = subprocess.run([*command, url], capture_output=True, text=True, timeout=duration_s + 30, check=True)
    text = result.stdout

    def latency(percent: str) -> float:
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
        if not match:
            raise RuntimeError(f"cannot read the {percent}% latency from wrk:\n{text}")
        return float(match.group(1)) * _UNITS[match.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    count = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = int(bad.group(1)) if bad else 0
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    return Timing(rps=rps, p50_ms=latency("50"), p99_ms=latency("99"), count=count, errors=errors)


def run_load(url: str, body: bytes, content_type: str, concurrency: int, duration_s: float) -> Timing:
    """Closed-loop load: ``concurrency`` keep-alive connections POSTing ``body`` for ``duration_s`` seconds."""
    if shutil.which("wrk"):
        return _wrk(url, body, content_type, concurrency, duration_s)
    with tempfile.NamedTemporaryFile(suffix=".body") as handle:
        handle.write(body)
        handle.flush()
        command = [PYTHON, "-m", "bench.loadgen", url, handle.name, content_type, str(concurrency), str(duration_s)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 60, check=True, cwd=ROOT)
    data = json.loads(result.stdout)
    return Timing(**data)


def interleaved(
    urls: Mapping[str, str],
    cells: Mapping[K, tuple[bytes, int]],
    content_type: str,
    duration_s: float,
    rounds: int = 2,
) -> dict[tuple[str, K], Timing]:
    """Measure every cell (body, concurrency) on every server, alternating servers round by round.

    Servers run side by side and take turns, so a change in machine load touches all of them alike;
    each figure is the median over ``rounds``.
    """
    runs: dict[tuple[str, K], list[Timing]] = defaultdict(list)
    for key, (body, concurrency) in cells.items():
        for url in urls.values():
            run_load(url, body, content_type, concurrency, 1)  # warm-up
        for index in range(rounds):
            order = list(urls.items()) if index % 2 == 0 else list(urls.items())[::-1]
            for name, url in order:
                runs[(name, key)].append(run_load(url, body, content_type, concurrency, duration_s))
    return {key: median_timing(timings) for key, timings in runs.items()}


async def _connection(host: str, port: int, request: bytes, deadline: float, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    errors = 0
    try:
        while time.perf_counter() < deadline and len(latencies) < MAX_REQUESTS:
            begin = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - begin)
            errors += status >= 300
    finally:
        writer.close()
    return errors


async def _load(url: str, body: bytes, content_type: str, concurrency: int, duration_s: float) -> Timing:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + duration_s
    errors = await asyncio.gather(*(_connection(host, port, request, deadline, latencies) for _ in range(concurrency)))
    return timing_from(latencies, time.perf_counter() - started, sum(errors))


if __name__ == "__main__":
    target, body_path, media, conc, seconds = sys.argv[1:6]
    timing = asyncio.run(_load(target, Path(body_path).read_bytes(), media, int(conc), float(seconds)))
    print(json.dumps(timing.__dict__))
