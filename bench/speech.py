"""Speech benchmark: real-time factor of a whisper-tiny-shaped model, served over HTTP against in-process engines.

    python -m bench.speech                    # 10 s and 60 s recordings, 5 interleaved rounds
    python -m bench.speech --runs 7 --tokens 48

The model has whisper-tiny's shape (d_model 384, 4+4 layers, 6 heads, a 51,865-token output layer) with
random weights (nothing can be downloaded here), so it never says end-of-text: every engine decodes the
same ``--tokens`` greedy tokens per 30 s window, the work a real model does on about that much speech.
Engines, each in its own process (cold start and peak RSS are the process's own):

* ``served fp32`` / ``served int8``: the bundle behind ``POST /v1/audio/transcriptions`` (uvicorn on
  127.0.0.1), timed at the client; the int8 bundle's gate bound is loose (random weights change words);
* ``transformers``: ``WhisperForConditionalGeneration.generate`` on torch, features by its processor
  (long-form for the 60 s recording, as transformers transcribes it);
* ``faster-whisper float32`` / ``int8`` (when installed): CTranslate2 weights converted from the same
  folder by its own converter.

Rounds are interleaved (every engine once per clip, then the next round), so a shared machine's load
drifts over all engines alike; each figure is the median of ``--runs`` rounds after one warm round.
Every engine uses ``--threads`` CPU threads. Compare the ratios of one run, never absolute figures across days.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import OUT, PYTHON, ROOT, free_port, machine_line, start_server, table

__all__ = ["main"]

CLIPS = {"10s": 10.0, "60s": 60.0}
NAME = "whisper-tiny-shape"


def _prepare(work: Path) -> tuple[Path, dict[str, Path], dict[str, Path]]:
    """The model folder, its fp32 and int8 bundles and the audio files (built once, reused)."""
    from model_packager.speech import package_speech
    from tests.speechmodels import WHISPER_TINY, encode, save_whisper, speech

    folder, out = work / NAME, work / "bundles"
    if not (folder / "config.json").is_file():
        save_whisper(folder, dims=WHISPER_TINY, base_vocab=50256, max_target_positions=448)
    sample = [encode(speech(3.0), 16000, "FLAC")]
    bundles = {"fp32": out / f"{NAME}-1.0.0", "int8": out / f"{NAME}-1.0.1"}
    for precision, bundle in bundles.items():
        if not bundle.is_dir():
            package_speech(folder, name=NAME, version=bundle.name.rsplit("-", 1)[1], out=out, sample=sample,
                           quantize=precision if precision == "int8" else None, max_word_error_rate=1.0)  # fmt: skip
    clips = {}
    for name, seconds in CLIPS.items():
        clips[name] = work / f"{name}.flac"
        if not clips[name].is_file():
            clips[name].write_bytes(encode(speech(seconds, seed=int(seconds)), 16000, "FLAC"))
    return folder, bundles, clips


def _peak_rss_mb(pid: int | str = "self") -> float:
    """The process's peak resident memory (VmHWM: reset by exec, unlike ru_maxrss, which a child inherits)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024


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


def _transformers(folder: Path, tokens: int, threads: int) -> Callable[[Path], None]:
    import torch
    from transformers import AutoProcessor, WhisperForConditionalGeneration

    from bundle.processing.audio import decode_audio

    torch.set_num_threads(threads)
    processor = AutoProcessor.from_pretrained(str(folder))  # type: ignore[no-untyped-call]
    model = WhisperForConditionalGeneration.from_pretrained(str(folder)).eval()  # type: ignore[no-untyped-call]

    def transcribe(path: Path) -> None:
        audio = decode_audio(path.read_bytes(), 16000).samples
        long = len(audio) > 480000
        inputs = processor(audio, sampling_rate=16000, return_tensors="pt", truncation=not long,
                           padding="longest" if long else "max_length", return_attention_mask=long)  # fmt: skip
        with torch.no_grad():
            model.generate(**inputs, task="transcribe", language="en", max_new_tokens=tokens, return_timestamps=long)

    return transcribe


def _faster_whisper(folder: Path, tokens: int, threads: int, compute: str) -> Callable[[Path], None]:
    import shutil

    import ctranslate2
    from faster_whisper import WhisperModel

    from bundle.processing.audio import decode_audio

    converted = folder.parent / f"ct2-{compute}"
    if not (converted / "model.bin").is_file():
        converter = ctranslate2.converters.TransformersConverter(str(folder))
        converter.convert(str(converted), quantization=compute, force=True)
        for name in ("tokenizer.json", "preprocessor_config.json"):
            shutil.copyfile(folder / name, converted / name)
    model = WhisperModel(str(converted), device="cpu", compute_type=compute, cpu_threads=threads)

    def transcribe(path: Path) -> None:
        audio = decode_audio(path.read_bytes(), 16000).samples
        segments, _ = model.transcribe(audio, language="en", beam_size=1, temperature=0.0, max_new_tokens=tokens,
                                       condition_on_previous_text=False, vad_filter=False)  # fmt: skip
        list(segments)

    return transcribe


def worker(leg: str, folder: Path, tokens: int, threads: int) -> None:
    """An in-process engine: says its cold start, then times one transcription per clip path read from stdin."""
    started = time.perf_counter()
    if leg == "transformers":
        transcribe = _transformers(folder, tokens, threads)
    else:
        transcribe = _faster_whisper(folder, tokens, threads, leg.rsplit(" ", 1)[1])
    print(json.dumps({"cold_start_s": time.perf_counter() - started}), flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        start = time.perf_counter()
        transcribe(Path(line.strip()))
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)
    print(json.dumps({"peak_rss_mb": _peak_rss_mb()}), flush=True)


class _Worker:
    """A worker process and its line protocol."""

    def __init__(self, leg: str, folder: Path, args: argparse.Namespace) -> None:
        command = [PYTHON, "-m", "bench.speech", "--leg", leg, "--folder", str(folder), "--tokens", str(args.tokens),
                   "--threads", str(args.threads)]  # fmt: skip
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONPATH=str(ROOT))
        pipe = subprocess.PIPE
        self.process = subprocess.Popen(command, stdin=pipe, stdout=pipe, stderr=subprocess.DEVNULL, text=True, env=env,
                                        cwd=ROOT)  # fmt: skip
        self.cold_start_s = float(self._read()["cold_start_s"])

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited with {self.process.wait()}")
        return dict(json.loads(line))

    def run(self, clip: Path) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{clip}\n")
        self.process.stdin.flush()
        return float(self._read()["seconds"])

    def close(self) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write("quit\n")
        self.process.stdin.flush()
        peak = float(self._read()["peak_rss_mb"])
        self.process.wait(30)
        return peak


class _Served:
    """A server process and a client timing one request."""

    def __init__(self, bundle: Path, args: argparse.Namespace) -> None:
        import httpx

        port = free_port()
        command = [PYTHON, "-m", "bench.speech", "--leg", "serve", "--bundle", str(bundle), "--port", str(port),
                   "--tokens", str(args.tokens), "--threads", str(args.threads)]  # fmt: skip
        started = time.perf_counter()
        self.server = start_server(f"speech-{bundle.name}", command, port, {"OMP_NUM_THREADS": str(args.threads)},
                                   "/v2/health/ready")  # fmt: skip
        self.cold_start_s = time.perf_counter() - started
        self.client = httpx.Client(timeout=600)

    def run(self, clip: Path) -> float:
        start = time.perf_counter()
        answer = self.client.post(f"{self.server.url}/v1/audio/transcriptions", data={"model": NAME},
                                  files={"file": (clip.name, clip.read_bytes(), "audio/flac")})  # fmt: skip
        answer.raise_for_status()
        return time.perf_counter() - start

    def close(self) -> float:
        peak = _peak_rss_mb(self.server.process.pid)
        self.client.close()
        self.server.stop()
        return peak


def _engines(args: argparse.Namespace, folder: Path, bundles: dict[str, Path]) -> dict[str, Any]:
    engines: dict[str, Any] = {}
    for precision, bundle in bundles.items():
        engines[f"served {precision}"] = _Served(bundle, args)
    for leg in ("transformers", "faster-whisper float32", "faster-whisper int8"):
        try:
            engines[leg] = _Worker(leg, folder, args)
        except RuntimeError as error:
            engines[leg] = f"skipped ({error}; pip install faster-whisper)"
    return engines


def main(argv: list[str] | None = None) -> int:
    """Run every engine in interleaved rounds and print the table (also written to bench/out/speech.md)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=32, help="greedy tokens per 30 s window, every engine")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--leg", default=None)
    parser.add_argument("--bundle", type=Path)
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    if args.leg == "serve":
        leg_serve(args.bundle, args.port, args.tokens, args.threads)
        return 0
    if args.leg is not None:
        worker(args.leg, args.folder, args.tokens, args.threads)
        return 0
    work = OUT / "speech"
    work.mkdir(parents=True, exist_ok=True)
    folder, bundles, clips = _prepare(work)
    machine = machine_line()  # the load average before the engines start
    engines = _engines(args, folder, bundles)
    live = {leg: engine for leg, engine in engines.items() if not isinstance(engine, str)}
    times: dict[str, dict[str, list[float]]] = {leg: {clip: [] for clip in clips} for leg in live}
    for round_ in range(args.runs + 1):
        for clip, path in clips.items():
            for leg, engine in live.items():
                seconds = engine.run(path)
                if round_ > 0:
                    times[leg][clip].append(seconds)
    peaks = {leg: engine.close() for leg, engine in live.items()}
    served = {clip: statistics.median(times["served fp32"][clip]) for clip in clips}
    rows: list[list[object]] = []
    for leg, engine in engines.items():
        if isinstance(engine, str):
            rows.append([leg, "-", "-", "-", "-", "-", engine])
            continue
        median = {clip: statistics.median(times[leg][clip]) for clip in clips}
        rtf = [f"{median[clip] / CLIPS[clip]:.3f}" for clip in clips]
        ratio = " / ".join(f"{median[clip] / served[clip]:.2f}x" for clip in clips)
        rows.append([leg, *rtf, ratio, f"{engine.cold_start_s:.2f}", f"{peaks[leg]:.0f}", ""])
    headers = ["engine", "RTF 10 s", "RTF 60 s", "time / served fp32 (10 s, 60 s)", "cold start s", "peak RSS MB", ""]
    setup = f"{args.threads} threads, {args.tokens} tokens per 30 s window, median of {args.runs} interleaved rounds"
    report = f"{machine}, {os.getloadavg()[0]:.2f} at the end; {setup}\n\n" + table(headers, rows)
    (OUT / "speech.md").write_text(report + "\n", encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
