"""Packaging large PyTorch models: wall time and peak memory against the size of the weights.

    python -m bench.large_models --sizes 0.5 1 2.5        # GB of float32 weights, one model at a time

Each size is packaged in its own fresh process (an nn.Sequential of 8192x8192 Linear layers with
random weights, 256 MiB each), so ``ru_maxrss`` of that child (``resource.getrusage(RUSAGE_CHILDREN)``
after it exits) is the peak resident memory of packaging alone. The resource probe (a second,
fresh onnxruntime process started by package()) is reported separately from the manifest.
Runs strictly one after the other: a 2.5 GB model peaks at several GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import PYTHON, ROOT

_CHILD = r"""
import json, sys, time
import torch
from torch import nn
from model_packager import package
layers, out = int(sys.argv[1]), sys.argv[2]
torch.manual_seed(0)
with torch.no_grad():
    model = nn.Sequential(*[nn.Linear(8192, 8192) for _ in range(layers)])
    for p in model.parameters():
        p.normal_(0, 8192 ** -0.5)
started = time.perf_counter()
result = package(model, name="big", version="1.0.0", sample=(torch.randn(4, 8192),), out=out, measure=True)
elapsed = time.perf_counter() - started
measured = result.manifest.resources.model_dump() if result.manifest.resources else None
files = {k: v.size for k, v in result.manifest.files.items()}
report = {"seconds": elapsed, "timings": result.timings, "files": files, "resources": measured}
print(json.dumps({**report, "archive": result.archive_size}))
"""

LAYER_BYTES = 8192 * 8192 * 4 + 8192 * 4


def run_one(size_gb: float, workdir: Path) -> dict[str, object]:
    """Package a model of about ``size_gb`` GB in a fresh process; its time and peak RSS."""
    layers = max(1, round(size_gb * 1e9 / LAYER_BYTES))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-c", _CHILD, str(layers), str(workdir / f"out-{layers}")],
        cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    if done.returncode != 0:
        raise SystemExit(f"packaging {layers} layers failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    weights = layers * LAYER_BYTES
    return {
        "weights_gb": weights / 1e9,
        "wall_s": wall,
        "package_s": report["seconds"],
        # ru_maxrss of RUSAGE_CHILDREN is the largest child so far: only valid when it grew
        "peak_rss_gb": peak / 1e9 if peak > before * 1024 else float("nan"),
        "peak_over_weights": peak / weights,
        "probe_resident_gb": (report["resources"] or {}).get("resident_bytes", 0) / 1e9,
        "probe_ready_s": (report["resources"] or {}).get("ready_seconds", float("nan")),
        "archive_gb": report["archive"] / 1e9,
        "timings": report["timings"],
    }


def main(argv: list[str] | None = None) -> int:
    """Package each size in turn and print one table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=float, default=[0.5, 1.0, 2.5], help="GB of weights")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="maaskit-bench-large-") as tmp:
        for size in sorted(args.sizes):  # ascending: RUSAGE_CHILDREN's max then belongs to the latest child
            row = run_one(size, Path(tmp))
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            for child in Path(tmp).iterdir():  # free the disk before the next size
                subprocess.run(["rm", "-rf", str(child)], check=False)
    print("| weights GB | package s | peak RSS GB | peak / weights | serving RSS GB | ready s | archive GB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['weights_gb']:.2f} | {row['package_s']:.1f} | {row['peak_rss_gb']:.2f} "
            f"| {row['peak_over_weights']:.2f}x | {row['probe_resident_gb']:.2f} | {row['probe_ready_s']:.2f} "
            f"| {row['archive_gb']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
