"""Where an embedding request's time goes: the bare models of ``bench.embeddings``' bundles, in-process.

Runs the fp32 and int8 ``model.onnx`` that ``python -m bench.embeddings`` packaged (reads its
``made.json``), plus plain per-channel int8 of the fp32 graph (no SmoothQuant, nothing kept fp32:
what the parity gate refuses on the real all-MiniLM-L6-v2) for comparison, side by side in
alternating rounds with the same threads: ``session.run`` only, on one ~16- and one ~128-token text
repeated to batch 1 and 32 (tokenized once, outside the timing). Prints median ms per call and each
model's speed-up over the fp32 bundle.

    python -m bench.embeddings            # first: packages the bundles
    python -m bench.embedding_models [--threads 2] [--seconds 1] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import OUT, table

MADE = OUT / "embeddings" / "bundles" / "made.json"
SHORT = "the cat sat on the mat and the dog sat on the road"
LONG = " ".join(["the weather in london is cold and the rain keeps going on the river"] * 9)


def _session(model: Path | bytes, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def _feed(bundle: Path, text: str, batch: int, session: Any) -> dict[str, np.ndarray]:
    from bundle import open_bundle
    from bundle.processing.text import load_tokenizer

    opened = open_bundle(bundle)
    assert opened.manifest.text is not None
    encoded = load_tokenizer(opened.root, opened.manifest.text).encode([text] * batch)
    names = {value.name for value in session.get_inputs()}
    return {name: value for name, value in encoded.feed.items() if name in names}


def _median_ms(session: Any, feed: dict[str, np.ndarray], seconds: float, max_calls: int = 500) -> float:
    session.run(None, feed)
    times: list[float] = []
    began = time.perf_counter()
    while time.perf_counter() - began < seconds and len(times) < max_calls:
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def run(threads: int, seconds: float, rounds: int) -> str:
    """Time every model in every cell; the Markdown table."""
    from model_packager.optimize_bytes import quantize_int8_in_memory

    if not MADE.is_file():
        raise SystemExit("run python -m bench.embeddings first: it packages the bundles this measures")
    bundles = {key: Path(path) for key, path in json.loads(MADE.read_text())["bundles"].items()}
    fp32 = bundles["fp32"]
    models: dict[str, Path | bytes] = {
        "fp32 bundle": fp32 / "model.onnx",
        "int8 bundle (SmoothQuant, some inputs fp32)": bundles["int8"] / "model.onnx",
        "plain per-channel int8 of the fp32 graph": quantize_int8_in_memory((fp32 / "model.onnx").read_bytes()),
    }
    sessions = {name: _session(model, threads) for name, model in models.items()}
    cells = [(tokens, text, batch) for tokens, text in (("~16", SHORT), ("~128", LONG)) for batch in (1, 32)]
    times: dict[tuple[str, str, int], list[float]] = {}
    for tokens, text, batch in cells:
        feeds = {name: _feed(fp32, text, batch, session) for name, session in sessions.items()}
        for index in range(rounds):
            order = list(sessions) if index % 2 == 0 else list(sessions)[::-1]
            for name in order:
                times.setdefault((name, tokens, batch), []).append(_median_ms(sessions[name], feeds[name], seconds))
    rows = []
    for name in sessions:
        row: list[object] = [name]
        for tokens, _, batch in cells:
            ms = statistics.median(times[(name, tokens, batch)])
            base = statistics.median(times[("fp32 bundle", tokens, batch)])
            row.append(f"{ms:.2f} ({base / ms:.2f}x)")
        rows.append(row)
    header = ["model.onnx", *(f"{tokens} tok b{batch}" for tokens, _, batch in cells)]
    return f"{threads} thread(s), median ms per session.run (speed-up over the fp32 bundle):\n\n" + table(header, rows)


def main(argv: list[str] | None = None) -> str:
    """Command line entry; prints and returns the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per model per cell per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    report = run(args.threads, args.seconds, args.rounds)
    print(report)
    return report


if __name__ == "__main__":
    main()
