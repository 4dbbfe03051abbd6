"""Run every benchmark (each in a fresh interpreter) and write ``bench/out/report.md``.

    python -m bench                 # short default durations (about 2 minutes)
    python -m bench --duration 10   # longer cells, steadier figures
    python -m bench --only serve_throughput cold_start
    python -m bench --only reliability --soak 60   # soak, memory, fuzzing; latency plot in bench/out/reliability.png

Figures on a shared machine move from run to run: compare ratios taken in one run, not absolute numbers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

from bench.common import OUT, PYTHON, ROOT, machine_line

#: module -> arguments for a short run (duration in seconds, or count of runs)
BENCHMARKS = {
    "serve_throughput": ["--duration", "{d}"],
    "lambda_overhead": ["--duration", "{d}"],
    "cold_start": ["--runs", "5"],
    "binary_vs_json": ["--duration", "{d}"],
    "batching": ["--duration", "{d}"],
    "embeddings": ["--duration", "{d}"],
    "reliability": ["--duration", "{soak}"],
    "large_bodies": ["--mb", "4"],
}
#: the longest one benchmark may take before it is stopped
TIMEOUT_S = 900


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks; returns the exit code (1 when one failed)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measured cell (default 3)")
    parser.add_argument("--soak", type=float, default=60.0, help="reliability soak seconds per server (default 60)")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="run only these")
    args = parser.parse_args(argv)
    chosen = args.only or list(BENCHMARKS)
    sections = [
        "# maaskit benchmarks\n",
        f"Taken {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine_line()}.\n"
        f"Re-run: `python -m bench --duration {args.duration:g} --soak {args.soak:g}`. "
        "Loopback only; every loop is bounded.\n",
    ]
    failed = []
    for name in chosen:
        arguments = [a.format(d=args.duration, soak=args.soak) for a in BENCHMARKS[name]]
        command = [PYTHON, "-m", f"bench.{name}", *arguments]
        print(f"== {name}", file=sys.stderr, flush=True)
        began = time.monotonic()
        result = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False, env=dict(os.environ)
        )
        if result.returncode != 0:
            failed.append(name)
            sections.append(f"## {name}: FAILED (exit {result.returncode})\n\n```\n{result.stderr[-2000:]}\n```\n")
        else:
            sections.append(result.stdout.strip() + f"\n\n_{name} took {time.monotonic() - began:.0f} s._\n")
        print(sections[-1], flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    staged = OUT / ".report.md.tmp"
    staged.write_text("\n".join(sections))
    staged.replace(OUT / "report.md")
    print(f"wrote {OUT / 'report.md'}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
