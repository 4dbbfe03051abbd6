"""Cold start: a fresh interpreter to the first successful response through the Lambda handler.

Each run starts ``python`` anew (imports, bundle verification and load, warm-up, one API Gateway v2 event)
and the clock runs from just before the process is spawned to the line it prints after the 200 answer.
Median of N runs, then a ``-X importtime`` run grouped by top-level package: where the time goes.
Goal: under 500 ms median.

With ``--text``, the same for a text (embedding) bundle, counting in the child how often the cold start
loads ``tokenizer.json`` and encodes texts: once each (the processor loads the tokenizer, the warm-up
encodes the samples once and the judge and the timed runs reuse that feed), then the request's own encode.

    python -m bench.cold_start [--runs 5] [--text]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.common import OUT, PYTHON, ROOT, median, table
from bench.lambda_overhead import _event
from bench.models import TABULAR_FEATURES, tabular_bundle

_CHILD = """
import json, sys, time
t0 = time.perf_counter()
counts = {"tokenizer_loads": 0, "encodes": 0}
if sys.argv[2:] == ["--count-tokenizer"]:
    from bundle.processing import text as _text
    _load, _encode = _text.load_tokenizer, _text.TextEncoder.encode
    def _counted_load(*args, **kwargs):
        counts["tokenizer_loads"] += 1
        return _load(*args, **kwargs)
    def _counted_encode(self, texts):
        counts["encodes"] += 1
        return _encode(self, texts)
    _text.load_tokenizer, _text.TextEncoder.encode = _counted_load, _counted_encode
from handlers import lambda_entry
t1 = time.perf_counter()
event = json.loads(sys.argv[1])
answer = lambda_entry.handler(event, None)
t2 = time.perf_counter()
assert answer["statusCode"] == 200, answer
cold = {"import_and_load_ms": (t1 - t0) * 1000, "first_request_ms": (t2 - t1) * 1000, **counts}
print("COLD " + json.dumps(cold), flush=True)
"""


def _env(bundle: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAASKIT_", "PYTHON"))}
    env.update(MAASKIT_BUNDLES=bundle, MAASKIT_INTRA_OP_THREADS="1")
    return env


def _one(event: str, env: dict[str, str], *extra: str) -> tuple[float, dict[str, float]]:
    begin = time.perf_counter()
    process = subprocess.Popen(
        [PYTHON, "-c", _CHILD, event, *extra],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
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


def _text_event(text: str) -> str:
    body = json.dumps({"input": [text], "model": "coldtext"})
    return json.dumps({
        "version": "2.0", "routeKey": "$default", "rawPath": "/v1/embeddings", "rawQueryString": "",
        "headers": {"content-type": "application/json", "accept": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/v1/embeddings", "protocol": "HTTP/1.1",
                                    "sourceIp": "127.0.0.1", "userAgent": "bench"},
                           "requestId": "cold", "routeKey": "$default", "stage": "$default"},
        "body": body, "isBase64Encoded": False,
    })  # fmt: skip


def text_bundle(out: Path) -> Path:
    """A small BERT embedding bundle (random weights, built from a config) packaged once under ``out``."""
    from model_packager import package
    from tests.handlers.text.folders import embedding_folder

    bundle = out / "coldtext-1.0.0"
    if not (bundle / "manifest.json").is_file():
        folder = embedding_folder(out / "coldtext-folder")
        package(folder, name="coldtext", version="1.0.0", task="feature-extraction", out=out, force=True)
    return bundle


def run_text(runs: int = 5) -> str:
    """The text bundle's cold start, with how often it loaded the tokenizer and encoded texts."""
    bundle = text_bundle(OUT / "bundles")
    event, env = _text_event("a cold start"), _env(str(bundle))
    _one(event, env, "--count-tokenizer")
    measured = [_one(event, env, "--count-tokenizer") for _ in range(max(1, runs))]
    totals = [total for total, _ in measured]
    loads = [parts["import_and_load_ms"] for _, parts in measured]
    counts = measured[-1][1]
    summary = table(
        ["phase", "median ms", "min ms", "max ms"],
        [
            ["import handlers.lambda_entry (imports, verify, load, warm-up)", median(loads), min(loads), max(loads)],
            ["**total: fresh interpreter to first embedding**", median(totals), min(totals), max(totals)],
        ],
    )
    return (
        f"## Cold start of a text bundle (Lambda handler, median of {len(totals)} fresh interpreters)\n\n"
        + summary
        + f"\n\ntokenizer.json loads: {int(counts['tokenizer_loads'])}; text encodes (warm-up and the request): "
        f"{int(counts['encodes'])}\n"
    )


def main(argv: list[str] | None = None) -> str:
    """Command line entry; prints and returns the Markdown section."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters to time (default 5)")
    parser.add_argument("--text", action="store_true", help="also a text bundle, counting tokenizer loads/encodes")
    args = parser.parse_args(argv)
    report = run(args.runs) + ("\n" + run_text(args.runs) if args.text else "")
    print(report)
    return report


if __name__ == "__main__":
    main()
