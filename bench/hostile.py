"""Hostile clients against the servers maaskit starts: are slow clients cut off, are disconnects 5xx, does /ping wait?

1. Slow-client probes (``bench.hostile_clients``, raw loopback sockets) against ``maaskit serve`` started
   with short limits (header 2 s, body 2 s + 1 s per 1000 bytes, request 6 s, keep-alive 2 s): the status
   each gets and the seconds until the server cut it off; a probe still open after 15 s is "held".
2. A disconnect storm: 200 clients that send part of a body and vanish (half FIN, half RST); then the
   server's ``/metrics``: server errors (5xx) and client disconnects counted.
3. ``/ping`` latency (p50/p99, every 10 ms) on the SageMaker entry while four 5 MB JSON requests run
   (posted from another process), against its idle p99.

``--tree DIR`` runs the same against another checkout (e.g. ``git archive main | tar -x -C DIR``) for a
before/after comparison.

    python -m bench.hostile [--tree DIR]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench import hostile_clients as probe
from bench.common import OUT, PYTHON, free_port, sagemaker_env, start_server, table
from bench.models import TABULAR_FEATURES, tabular_bundle

__all__ = ["main", "run"]

HELD_S = 15.0
STORM = 200
LIMITS = {
    "MAASKIT_HEADER_TIMEOUT_S": "2",
    "MAASKIT_BODY_TIMEOUT_S": "2",
    "MAASKIT_BODY_MIN_RATE": "1000",
    "MAASKIT_REQUEST_TIMEOUT_S": "6",
    "MAASKIT_KEEP_ALIVE_S": "2",
}
PROBES: list[tuple[str, Callable[[int], probe.Cut]]] = [
    ("headers, one line per 0.5 s", lambda port: probe.slow_headers(port, interval=0.5, limit_s=HELD_S)),
    ("silent connection", lambda port: probe.silent(port, limit_s=HELD_S)),
    (
        "5 MB declared, 8 bytes sent",
        lambda port: probe.declared_body_unsent(port, "/predictions/tabular", declared=5_000_000, limit_s=HELD_S),
    ),
    (
        "body at 1 byte per 0.5 s",
        lambda port: probe.slow_body(port, "/models/tabular/predict", chunk=1, interval=0.5, limit_s=HELD_S),
    ),
    ("one 8 MB header", lambda port: probe.oversized_headers(port, size=8 << 20, limit_s=HELD_S)),
    ("200 header fields", lambda port: probe.many_headers(port, count=200, limit_s=HELD_S)),
    ("idle keep-alive after a request", lambda port: probe.idle_after_response(port, limit_s=HELD_S)),
]


def _python(tree: Path | None, module_main: str) -> list[str]:
    """A python command running ``module_main`` from ``tree`` (first on sys.path) or from this checkout."""
    setup = f"import sys; sys.path.insert(0, {str(tree)!r}); " if tree else ""
    return [PYTHON, "-c", setup + module_main]


def _metric(text: str, pattern: str) -> int:
    return sum(int(n) for n in re.findall(pattern, text))


def slow_clients(bundle: Path, tree: Path | None) -> tuple[list[list[object]], dict[str, int]]:
    """Probe rows (probe, status, seconds, cut) and the disconnect storm's counts, against ``maaskit serve``."""
    port = free_port()
    command = [*_python(tree, "from maaskit.cli import main; main()"), "serve", str(bundle), "--port", str(port)]
    rows: list[list[object]] = []
    with start_server("hostile-serve", command, port, {**LIMITS, "MAASKIT_ACCESS_LOG": "false"}) as server:
        for name, run_probe in PROBES:
            cut = run_probe(port)
            if not cut.closed and cut.seconds >= HELD_S - 0.5:
                outcome = "held"
            elif cut.status is not None and cut.status >= 400:
                outcome = "refused"
            else:
                outcome = "closed after answering" if cut.closed else "answered"
            rows.append([name, cut.status or "none", f"{cut.seconds:.2f}", outcome])
        for index in range(STORM):
            probe.disconnect_mid_body(port, "/models/tabular/predict", reset=index % 2 == 1)
        time.sleep(1.0)
        with urllib.request.urlopen(server.url + "/metrics", timeout=10) as answer:
            text = answer.read().decode()
    counts = {
        "server errors (5xx)": _metric(text, r'maaskit_request_errors_total\{[^}]*class="server"\} (\d+)'),
        "client disconnects": _metric(text, r"maaskit_client_disconnects_total\{[^}]*\} (\d+)"),
    }
    return rows, counts


def ping_under_load(bundle: Path, tree: Path | None) -> dict[str, float]:
    """/ping idle p99 and p50/p99 while four 5 MB JSON requests run on the SageMaker entry."""
    row = "[" + ", ".join(["0.5"] * TABULAR_FEATURES) + "],"
    body = ('{"instances": [' + row * (5_000_000 // len(row)) + row[:-1] + "]}").encode()
    port = free_port()
    env = sagemaker_env(bundle, port, MAASKIT_MAX_RESPONSE_BYTES="0")
    command = _python(tree, "import sys; from handlers.sagemaker_entry import main; sys.exit(main())")
    with tempfile.TemporaryDirectory() as scratch, start_server("hostile-sagemaker", command, port, env) as server:
        body_file = Path(scratch) / "body.json"
        body_file.write_bytes(body)
        idle = []
        for _ in range(200):
            started = time.perf_counter()
            with urllib.request.urlopen(server.url + "/ping", timeout=10) as answer:
                answer.read()
            idle.append(time.perf_counter() - started)
            time.sleep(0.01)
        loaded, statuses = probe.ping_under_large_bodies(
            server.url, str(body_file), headers={"Content-Type": "application/json"}
        )
    return {
        "idle p99 ms": float(np.percentile(idle, 99)) * 1000,
        "loaded p50 ms": float(np.percentile(loaded, 50)) * 1000,
        "loaded p99 ms": float(np.percentile(loaded, 99)) * 1000,
        "pings": len(loaded),
        "large answers 200": statuses.count(200),
    }


def run(tree: Path | None = None) -> str:
    """All three measurements; returns the Markdown section."""
    bundle = tabular_bundle(OUT / "bundles")
    rows, counts = slow_clients(bundle, tree)
    ping = ping_under_load(bundle, tree)
    source = f"the tree at {tree}" if tree else "this checkout"
    refused = sum(1 for row in rows if row[3] == "refused")
    held = sum(1 for row in rows if row[3] == "held")
    return (
        f"## Hostile clients ({source})\n\n"
        f"Slow-client probes against `maaskit serve` ({', '.join(f'{k}={v}' for k, v in LIMITS.items())}): "
        f"**{refused} of {len(rows)} refused, {held} held** (still open after {HELD_S:g} s).\n\n"
        + table(["probe", "status", "seconds to answer or cut", "outcome"], rows)
        + f"\n\nDisconnect storm: {STORM} clients vanish mid-body (half FIN, half RST), then `/metrics`:\n\n"
        + table(["counter", "value"], [[k, v] for k, v in counts.items()])
        + "\n\n`/ping` on the SageMaker entry while four 5 MB JSON requests run (posted from another process):\n\n"
        + table(list(ping), [[f"{v:.1f}" if isinstance(v, float) else v for v in ping.values()]])
        + "\n"
    )


def main(argv: list[str] | None = None) -> str:
    """Command line entry; prints and returns the Markdown section."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=None, help="run the servers from another checkout")
    args = parser.parse_args(argv)
    report = run(args.tree.resolve() if args.tree else None)
    print(report)
    return report


if __name__ == "__main__":
    main()
