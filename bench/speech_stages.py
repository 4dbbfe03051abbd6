"""Where a Whisper transcription spends its time, in-process: log-mel, encoder, token steps screened and full.

    python -m bench.speech_stages                 # the 10 s recording, 7 runs, medians
    python -m bench.speech_stages --clip 60s --runs 5

The model and recordings are ``bench.speech``'s (a whisper-tiny-shaped fp32 bundle, random weights, a
fixed ``--tokens`` per window). Each run transcribes twice: greedy as served (token steps through the
screened output layer) and with ``logprobs`` (every step's full logits, as ``verbose_json`` decodes); the
decoder session is wrapped so every step is timed by kind. Figures are medians over the runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import OUT, machine_line, table

__all__ = ["main"]


class _TimedSession:
    """The decoder session, each ``run`` timed under its kind (prompt, screened step, full step)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.times: dict[str, list[float]] = defaultdict(list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)

    def run(self, names: Any, feed: dict[str, Any]) -> Any:
        tokens = feed["input_ids"].shape[1]
        full = bool(feed["full_logits"]) if "full_logits" in feed else True
        kind = "prompt" if tokens > 1 else ("token step, full logits" if full else "token step, screened")
        started = time.perf_counter()
        outputs = self.session.run(names, feed)
        self.times[kind].append(time.perf_counter() - started)
        return outputs


def _timed(function: Any, *args: Any, **options: Any) -> float:
    started = time.perf_counter()
    function(*args, **options)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Print the stage table (also written to bench/out/speech_stages.md)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", default="10s", choices=["10s", "60s"])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    from bench.speech import _prepare
    from bundle.processing.audio import decode_audio
    from handlers.settings import Settings
    from handlers.speech.runtime import load_speech

    _, bundles, clips = _prepare(OUT / "speech")
    settings = Settings.load(environ={}, access_log=False, metrics="none", intra_op_threads=args.threads)
    decoder = load_speech(bundles["fp32"], settings).engine.decoder  # type: ignore[attr-defined]
    decoder.spec = decoder.spec.model_copy(update={"max_new_tokens": args.tokens})
    timed = _TimedSession(decoder.decoder)
    decoder.decoder = timed
    audio = decode_audio(Path(clips[args.clip]).read_bytes(), 16000).samples
    features = decoder.features_of(audio)
    stages: dict[str, list[float]] = defaultdict(list)
    for round_ in range(args.runs + 1):
        timed.times.clear()
        samples: dict[str, float] = {
            "log-mel (one window)": _timed(decoder.features_of, audio),
            "encoder (one window)": _timed(decoder.encoder, features),
            "transcription, greedy as served": _timed(decoder.transcribe, audio),
            "transcription, every step's full logits": _timed(decoder.transcribe, audio, logprobs=True),
        }
        if round_ == 0:
            continue  # warm-up
        for name, seconds in samples.items():
            stages[name].append(seconds)
        for kind, runs in timed.times.items():
            stages[kind].append(statistics.median(runs))
    rows = [[name, f"{statistics.median(values) * 1000:.1f}"] for name, values in stages.items()]
    rows.append(["screened steps that needed the full logits", str(decoder.full_reruns)])
    setup = (
        f"{args.clip} recording, {args.tokens} tokens per window, {args.threads} threads, median of {args.runs} runs"
    )
    report = f"{machine_line()}; {setup}\n\n" + table(["stage", "ms"], rows)
    (OUT / "speech_stages.md").write_text(report + "\n", encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
