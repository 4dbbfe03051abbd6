"""Closed-loop keep-alive HTTP/1.1 load that keeps every request's time and outcome, for the soak test.

Unlike :mod:`bench.loadgen` (aggregate figures only), this records per-second latency percentiles and
counts every failure: a non-2xx answer, a dropped connection, a malformed answer. A failed connection is
reopened, so one error never ends the run. Loopback only; bounded by time and by count.

    python -m bench.soak_client URL BODY_FILE CONTENT_TYPE CONCURRENCY SECONDS   # prints JSON
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

__all__ = ["soak"]

MAX_REQUESTS = 5_000_000
_LENGTH = re.compile(rb"(?i)content-length:\s*(\d+)")


async def _worker(
    host: str, port: int, request: bytes, deadline: float, started: float, done: list[tuple[float, float, bool]]
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.perf_counter() < deadline and len(done) < MAX_REQUESTS:
        begin = time.perf_counter()
        try:
            if writer is None or reader is None:
                reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            match = _LENGTH.search(head)
            await reader.readexactly(int(match.group(1)) if match else 0)
            ok = 200 <= status < 300
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
            ok = False
            if writer is not None:
                writer.close()
            reader = writer = None
        end = time.perf_counter()
        done.append((end - started, end - begin, ok))
    if writer is not None:
        writer.close()


def _summary(done: list[tuple[float, float, bool]], elapsed: float) -> dict[str, Any]:
    table = np.asarray(done, dtype=np.float64).reshape(-1, 3)
    seconds = table[:, 0].astype(np.int64)
    latency_ms = table[:, 1] * 1000.0
    ok = table[:, 2].astype(bool)
    per_second = []
    for second in range(int(seconds.max()) + 1 if len(seconds) else 0):
        mask = seconds == second
        if mask.any():
            per_second.append(
                {
                    "second": second,
                    "count": int(mask.sum()),
                    "errors": int((~ok[mask]).sum()),
                    "p50_ms": float(np.percentile(latency_ms[mask], 50)),
                    "p99_ms": float(np.percentile(latency_ms[mask], 99)),
                }
            )
    return {
        "count": len(done),
        "errors": int((~ok).sum()),
        "rps": len(done) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": float(np.percentile(latency_ms, 50)) if len(done) else 0.0,
        "p99_ms": float(np.percentile(latency_ms, 99)) if len(done) else 0.0,
        "per_second": per_second,
    }


async def soak(url: str, body: bytes, content_type: str, concurrency: int, duration_s: float) -> dict[str, Any]:
    """``concurrency`` keep-alive connections POSTing ``body`` to ``url`` for ``duration_s``; a JSON-able summary."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise ValueError(f"loopback only, got {host}")
    request = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    done: list[tuple[float, float, bool]] = []
    started = time.perf_counter()
    deadline = started + duration_s
    await asyncio.gather(*(_worker(host, port, request, deadline, started, done) for _ in range(concurrency)))
    return _summary(done, time.perf_counter() - started)


if __name__ == "__main__":
    target, body_path, media, conc, seconds = sys.argv[1:6]
    result = asyncio.run(soak(target, Path(body_path).read_bytes(), media, int(conc), float(seconds)))
    print(json.dumps(result))
