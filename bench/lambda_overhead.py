"""Lambda handler overhead: an API Gateway HTTP API (v2) event through ``handlers.lambda_entry.handler``
in-process, minus the bare ``session.run`` of the same input. Goal: under 250 µs at p50.

The event is ``tests/events/apigw_v2_predict.json`` pointed at the benchmark's tabular model. Log lines go
to a file (on Lambda they go to stdout/CloudWatch); metrics are CloudWatch EMF, Lambda's default.

    python -m bench.lambda_overhead [--duration 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from types import SimpleNamespace
from typing import Any

import numpy as np
import onnxruntime as ort

from bench.common import OUT, ROOT, Timing, median_timing, table, time_calls
from bench.models import TABULAR_FEATURES, tabular_bundle

ROUNDS = 5
EVENT = ROOT / "tests" / "events" / "apigw_v2_predict.json"


def _event(rows: np.ndarray) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(EVENT.read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/models/tabular/predict"
    event["rawQueryString"] = ""
    event.pop("queryStringParameters", None)
    event["body"] = json.dumps({"inputs": {"X": rows.tolist()}})
    return event


def _context() -> SimpleNamespace:
    return SimpleNamespace(
        aws_request_id="bench-0000",
        function_name="maaskit-bench-tabular",
        memory_limit_in_mb=1024,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:maaskit-bench-tabular:live",
        get_remaining_time_in_millis=lambda: 30_000,
    )


def run(duration: float = 2.0) -> str:
    """Measure and return the Markdown section."""
    bundle = tabular_bundle(OUT / "bundles")
    os.environ["MAASKIT_BUNDLES"] = str(bundle)
    os.environ["MAASKIT_INTRA_OP_THREADS"] = "1"
    OUT.mkdir(parents=True, exist_ok=True)
    real = sys.stdout, sys.stderr
    sink = (OUT / "lambda-overhead.log").open("w")
    sys.stdout = sys.stderr = sink  # where the request log lines and log records go
    try:
        from handlers import lambda_entry

        quiet = lambda_entry.build_handler(
            lambda_entry.default_settings({**os.environ, "MAASKIT_ACCESS_LOG": "false", "MAASKIT_METRICS": "none"})
        )
        rows = np.random.default_rng(0).normal(size=(1, TABULAR_FEATURES)).astype(np.float32)
        event, context = _event(rows), _context()
        for name, handler in (("handler", lambda_entry.handler), ("quiet", quiet)):
            answer = handler(event, context)
            if answer["statusCode"] != 200:
                raise RuntimeError(f"{name} answered {answer['statusCode']}: {answer['body'][:300]}")

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(bundle / "model.onnx"), options, providers=["CPUExecutionProvider"])
        calls = {
            "bare": lambda: session.run(None, {"X": rows}),
            "full": lambda: lambda_entry.handler(event, context),
            "lean": lambda: quiet(event, context),
        }
        # Taken in alternating rounds, so that a change in machine load touches every path alike.
        rounds: dict[str, list[Timing]] = {name: [] for name in calls}
        for _ in range(ROUNDS):
            for name, call in calls.items():
                rounds[name].append(time_calls(call, duration / ROUNDS))
        bare, full, lean = (median_timing(rounds[name]) for name in calls)
    finally:
        sys.stdout, sys.stderr = real
        sink.close()
    bare_us = bare.p50_ms * 1000
    lines = [
        ["bare session.run", bare_us, bare.p99_ms * 1000, "-", bare.count],
        [
            "handler, defaults (JSON log line + EMF metrics)",
            full.p50_ms * 1000,
            full.p99_ms * 1000,
            full.p50_ms * 1000 - bare_us,
            full.count,
        ],
        [
            "handler, log line and metrics off",
            lean.p50_ms * 1000,
            lean.p99_ms * 1000,
            lean.p50_ms * 1000 - bare_us,
            lean.count,
        ],
    ]
    return (
        "## Lambda handler overhead (API Gateway v2 event, in-process, batch 1)\n\n"
        f"Goal: overhead (handler p50 minus bare session.run p50) < 250 µs. Median of {ROUNDS} alternating rounds.\n\n"
        + table(["path", "p50 µs", "p99 µs", "overhead p50 µs", "calls"], lines)
        + "\n"
    )


def main(argv: list[str] | None = None) -> str:
    """Command line entry; prints and returns the Markdown section."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds of handler calls (default 2)")
    report = run(parser.parse_args(argv).duration)
    print(report)
    return report


if __name__ == "__main__":
    main()
