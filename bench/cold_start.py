"""Cold start: a fresh interpreter to the first successful response through the Lambda handler.

Each run starts ``python`` anew (imports, bundle verification and load, warm-up, one API Gateway v2 event)
and the clock runs from just before the process is spawned to the line it prints after the 200 answer.
Median of N runs, then a ``-X importtime`` run grouped by top-level package: where the time goes.
Goal: under 500 ms median.

    python -m bench.cold_start [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
from collections import defaultdict

import numpy as np

from bench.common import OUT, PYTHON, ROOT, median, table
from bench.lambda_overhead import _event
from bench.models import TABULAR_FEATURES, tabular_bundle

_CHILD = """
import json, sys, time
t0 = time.perf_counter()
from handlers import lambda_entry
t1 = time.perf_counter()
event = json.loads(sys.argv[1])
answer = lambda_entry.handler(event, None)
t2 = time.perf_counter()
assert answer["statusCode"] == 200, answer
print("COLD " + json.dumps({"import_and_load_ms": (t1 - t0) * 1000, "first_request_ms": (t2 - t1) * 1000}), flush=True)
"""


def _env(bundle: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAASKIT_", "PYTHON"))}
    env.update(MAASKIT_BUNDLES=bundle, MAASKIT_INTRA_OP_THREADS="1")
    return env


def _one(event: str, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    begin = time.perf_counter()
    process = subprocess.Popen(
        [PYTHON, "-c", _CHILD, event], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    line = ""
    for line in process.stdout:  # the request's own log line comes first
        if line.startswith("COLD "):
            break
    total = (time.perf_counter() - begin) * 1000
    process.stdout.read()
    process.wait(30)
    if not line.startswith("COLD "):
        raise RuntimeError(f"the cold-start child failed (exit {process.returncode})")
    parts: dict[str, float] = json.loads(line[5:])
    return total, parts


def import_breakdown(event: str, env: dict[str, str], top: int = 20) -> list[tuple[str, float]]:
    """Self import time summed per top-level package (ms), largest first."""
    result = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", _CHILD, event],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    per_package: dict[str, float] = defaultdict(float)
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
        if match:
            per_package[match.group(3).split(".")[0]] += int(match.group(1)) / 1000
    return sorted(per_package.items(), key=lambda item: -item[1])[:top]


def run(runs: int = 5) -> str:
    """Measure and return the Markdown section."""
    bundle = tabular_bundle(OUT / "bundles")
    rows = np.random.default_rng(0).normal(size=(1, TABULAR_FEATURES)).astype(np.float32)
    event, env = json.dumps(_event(rows)), _env(str(bundle))
    _one(event, env)  # fill the OS page cache and write .pyc files once, as a deployed package has them
    measured = [_one(event, env) for _ in range(max(1, runs))]
    totals = [total for total, _ in measured]
    loads = [parts["import_and_load_ms"] for _, parts in measured]
    firsts = [parts["first_request_ms"] for _, parts in measured]
    startup = [t - a - b for t, a, b in zip(totals, loads, firsts, strict=True)]
    summary = table(
        ["phase", "median ms", "min ms", "max ms"],
        [
            ["interpreter start-up (+ process spawn)", median(startup), min(startup), max(startup)],
            ["import handlers.lambda_entry (imports, verify, load, warm-up)", median(loads), min(loads), max(loads)],
            ["first request through the handler", median(firsts), min(firsts), max(firsts)],
            ["**total: fresh interpreter to first response**", median(totals), min(totals), max(totals)],
        ],
    )
    breakdown = import_breakdown(event, env)
    packages = table(["package", "self import ms"], [[name, ms] for name, ms in breakdown])
    return (
        f"## Cold start (Lambda handler, median of {len(totals)} fresh interpreters)\n\n"
        "Goal: total < 500 ms.\n\n" + summary + "\n\n"
        "Where the import time goes (`-X importtime`, self time summed per top-level package, top 20):\n\n"
        + packages
        + "\n"
    )


def main(argv: list[str] | None = None) -> str:
    """Command line entry; prints and returns the Markdown section."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters to time (default 5)")
    report = run(parser.parse_args(argv).runs)
    print(report)
    return report


if __name__ == "__main__":
    main()
