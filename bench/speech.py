"""Speech benchmark: real-time factor of a whisper-tiny-shaped model, served over HTTP against in-process engines.

    python -m bench.speech                    # 10 s and 60 s recordings, 3 runs each
    python -m bench.speech --runs 5 --tokens 48

The model has whisper-tiny's shape (d_model 384, 4+4 layers, 6 heads, a 51,865-token output layer) with
random weights (nothing can be downloaded here), so it never says end-of-text: every engine decodes the
same ``--tokens`` greedy tokens per 30 s window, the work a real model does on about that much speech.
Legs, each in its own process (cold start and peak RSS are the process's own):

* ``served``: the bundle behind ``POST /v1/audio/transcriptions`` (uvicorn on 127.0.0.1), timed at the client;
* ``transformers``: ``WhisperForConditionalGeneration.generate`` on torch, features by its processor
  (long-form for the 60 s recording, as transformers transcribes it);
* ``faster-whisper`` (when importable): CTranslate2 weights converted from the same folder by its own
  converter, float32 and int8.

Every leg uses ``--threads`` CPU threads. Compare the ratios of one run, never absolute figures across days.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import OUT, PYTHON, ROOT, free_port, machine_line, start_server, table

__all__ = ["main"]

CLIPS = {"10s": 10.0, "60s": 60.0}


def _prepare(work: Path) -> tuple[Path, Path, dict[str, Path]]:
    """The model folder, its bundle and the audio files (built once, reused)."""
    from model_packager.api import package
    from tests.speechmodels import WHISPER_TINY, encode, save_whisper, speech

    folder, bundles = work / "whisper-tiny-shape", work / "bundles"
    if not (folder / "config.json").is_file():
        save_whisper(folder, dims=WHISPER_TINY, base_vocab=50256, max_target_positions=448)
    bundle = bundles / "whisper-tiny-shape-1.0.0"
    if not bundle.is_dir():
        package(
            folder, name="whisper-tiny-shape", version="1.0.0", out=bundles, sample=[encode(speech(3.0), 16000, "FLAC")]
        )
    clips = {}
    for name, seconds in CLIPS.items():
        clips[name] = work / f"{name}.flac"
        if not clips[name].is_file():
            clips[name].write_bytes(encode(speech(seconds, seed=int(seconds)), 16000, "FLAC"))
    return folder, bundle, clips


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def leg_serve(bundle: Path, port: int, tokens: int, threads: int) -> None:
    """The server process: the bundle on 127.0.0.1:port, the per-window token budget fixed to ``tokens``."""
    import uvicorn

    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.settings import Settings
    from handlers.speech.runtime import load_speech

    settings = Settings.load(environ={}, access_log=False, metrics="none", intra_op_threads=threads)
    runtime = load_speech(bundle, settings)
    decoder = runtime.engine.decoder  # type: ignore[attr-defined]
    decoder.spec = decoder.spec.model_copy(update={"max_new_tokens": tokens})
    uvicorn.run(create_app(ModelRepository([runtime]), settings), host="127.0.0.1", port=port, log_level="warning")


def _served(bundle: Path, clips: dict[str, Path], runs: int, tokens: int, threads: int) -> dict[str, Any]:
    import httpx

    port = free_port()
    command = [PYTHON, "-m", "bench.speech", "--leg", "serve", "--bundle", str(bundle), "--port", str(port),
               "--tokens", str(tokens), "--threads", str(threads)]  # fmt: skip
    started = time.perf_counter()
    with start_server("speech-served", command, port, {"OMP_NUM_THREADS": str(threads)}, "/v2/health/ready") as server:
        cold = time.perf_counter() - started
        result: dict[str, Any] = {"cold_start_s": cold}
        with httpx.Client(timeout=600) as client:
            for name, path in clips.items():
                data = path.read_bytes()
                times = []
                for _ in range(runs + 1):
                    start = time.perf_counter()
                    answer = client.post(f"{server.url}/v1/audio/transcriptions", data={"model": "whisper-tiny-shape"},
                                         files={"file": (path.name, data, "audio/flac")})  # fmt: skip
                    answer.raise_for_status()
                    times.append(time.perf_counter() - start)
                result[name] = statistics.median(times[1:])
        status = Path(f"/proc/{server.process.pid}/status").read_text()
        result["peak_rss_mb"] = (
            int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024
        )
    return result


def leg_transformers(folder: Path, clips: dict[str, Path], runs: int, tokens: int, threads: int) -> dict[str, Any]:
    """transformers on torch, in this process."""
    started = time.perf_counter()
    import torch
    from transformers import AutoProcessor, WhisperForConditionalGeneration

    from bundle.processing.audio import decode_audio

    torch.set_num_threads(threads)
    processor = AutoProcessor.from_pretrained(str(folder))
    model = WhisperForConditionalGeneration.from_pretrained(str(folder)).eval()
    result: dict[str, Any] = {"cold_start_s": time.perf_counter() - started}
    for name, path in clips.items():
        times = []
        for _ in range(runs + 1):
            start = time.perf_counter()
            audio = decode_audio(path.read_bytes(), 16000).samples
            long = len(audio) > 480000
            inputs = processor(audio, sampling_rate=16000, return_tensors="pt", truncation=not long,
                               padding="longest" if long else "max_length", return_attention_mask=long)  # fmt: skip
            with torch.no_grad():
                model.generate(
                    **inputs, task="transcribe", language="en", max_new_tokens=tokens, return_timestamps=long
                )
            times.append(time.perf_counter() - start)
        result[name] = statistics.median(times[1:])
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


def leg_faster_whisper(
    folder: Path, clips: dict[str, Path], runs: int, tokens: int, threads: int, compute: str
) -> dict[str, Any]:
    """faster-whisper (CTranslate2), the weights converted from ``folder`` by its own converter."""
    import shutil

    import ctranslate2
    from faster_whisper import WhisperModel

    from bundle.processing.audio import decode_audio

    converted = folder.parent / f"ct2-{compute}"
    if not (converted / "model.bin").is_file():
        ctranslate2.converters.TransformersConverter(str(folder)).convert(
            str(converted), quantization=compute, force=True
        )
        for name in ("tokenizer.json", "preprocessor_config.json"):
            shutil.copyfile(folder / name, converted / name)
    started = time.perf_counter()
    model = WhisperModel(str(converted), device="cpu", compute_type=compute, cpu_threads=threads)
    result: dict[str, Any] = {"cold_start_s": time.perf_counter() - started}
    for name, path in clips.items():
        times = []
        for _ in range(runs + 1):
            start = time.perf_counter()
            audio = decode_audio(path.read_bytes(), 16000).samples
            segments, _ = model.transcribe(audio, language="en", beam_size=1, temperature=0.0, max_new_tokens=tokens,
                                           condition_on_previous_text=False, vad_filter=False)  # fmt: skip
            list(segments)
            times.append(time.perf_counter() - start)
        result[name] = statistics.median(times[1:])
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


def _child(leg: str, args: argparse.Namespace, folder: Path, clips: dict[str, Path]) -> dict[str, Any] | str:
    command = [PYTHON, "-m", "bench.speech", "--leg", leg, "--folder", str(folder), "--runs", str(args.runs),
               "--tokens", str(args.tokens), "--threads", str(args.threads),
               "--clips", json.dumps({k: str(v) for k, v in clips.items()})]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONPATH=str(ROOT))
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return (done.stderr.strip().splitlines() or ["failed"])[-1][:160]
    return dict(json.loads(lines[-1]))


def main(argv: list[str] | None = None) -> int:
    """Run every leg and print the table (also written to bench/out/speech.md)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=32, help="greedy tokens per 30 s window, every engine")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--leg", default=None)
    parser.add_argument("--bundle", type=Path)
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--port", type=int)
    parser.add_argument("--clips", default="{}")
    args = parser.parse_args(argv)
    if args.leg == "serve":
        leg_serve(args.bundle, args.port, args.tokens, args.threads)
        return 0
    if args.leg is not None:
        clips = {k: Path(v) for k, v in json.loads(args.clips).items()}
        common = (args.folder, clips, args.runs, args.tokens, args.threads)
        legs = {
            "transformers": lambda: leg_transformers(*common),
            "faster-whisper-float32": lambda: leg_faster_whisper(*common, "float32"),
            "faster-whisper-int8": lambda: leg_faster_whisper(*common, "int8"),
        }  # fmt: skip
        print(json.dumps(legs[args.leg]()))
        return 0
    work = OUT / "speech"
    work.mkdir(parents=True, exist_ok=True)
    folder, bundle, clips = _prepare(work)
    results: dict[str, dict[str, Any] | str] = {
        "served (maaskit, fp32)": _served(bundle, clips, args.runs, args.tokens, args.threads)
    }
    for leg in ("transformers", "faster-whisper-float32", "faster-whisper-int8"):
        results[leg] = _child(leg, args, folder, clips)
    served = results["served (maaskit, fp32)"]
    assert isinstance(served, dict)
    rows = []
    for leg, figures in results.items():
        if isinstance(figures, str):
            rows.append([leg, "-", "-", "-", "-", "-", f"skipped: {figures}"])
            continue
        rtf = {name: figures[name] / seconds for name, seconds in CLIPS.items()}
        ratio = " / ".join(f"{figures[name] / served[name]:.2f}x" for name in CLIPS)
        rows.append([leg, f"{rtf['10s']:.3f}", f"{rtf['60s']:.3f}", ratio, f"{figures['cold_start_s']:.2f}",
                     f"{figures['peak_rss_mb']:.0f}", ""])  # fmt: skip
    headers = ["engine", "RTF 10 s", "RTF 60 s", "time vs served (10 s / 60 s)", "cold start s", "peak RSS MB", "note"]
    setup = f"{args.threads} threads, {args.tokens} tokens per window, {args.runs} runs (median)"
    report = f"{machine_line()}; {setup}\n\n" + table(headers, rows)
    (OUT / "speech.md").write_text(report + "\n", encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
