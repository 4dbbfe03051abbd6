"""Generation benchmark: time to first token and decode tokens/s, served over HTTP (SSE) vs in-process.

    python -m bench.generation                      # SmolLM2-135M's shape (random weights), fp32
    python -m bench.generation --shape tiny         # the tests' tiny Qwen2 (seconds)
    python -m bench.generation --precision fp32 int8 int4 --tokens 64 --streams 1 4 16 --repeat 3

One run, side by side on this machine: transformers fp32 in-process (torch), onnxruntime-genai in-process
(the bundle's model, a plain Python loop), and the bundle served by the maaskit app over real HTTP on
127.0.0.1 with ``stream: true`` (one stream, then N concurrent streams: aggregate tokens/s). Cold start
is a fresh process from its start to the first generated token; peak RSS is that serving process's
(load, warm-up, one token) and, for transformers, a fresh process that loads the model and decodes.
Single-stream figures are medians of ``--repeat`` runs. Compare ratios from one run only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: SmolLM2-135M's config (HuggingFaceTB/SmolLM2-135M-Instruct), written from its published values.
SMOLLM2 = {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
           "num_key_value_heads": 3, "max_position_embeddings": 2048, "tie_word_embeddings": True,
           "vocab_size": 49152}  # fmt: skip
PROMPT = [{"role": "user", "content": "Write a short story about a dragon who learns to bake bread."}]


def build(shape: str, root: Path) -> Path:
    """The model folder: the tests' tiny Qwen2, or a Llama of SmolLM2-135M's shape (random weights)."""
    from tests.genmodels import save_llama, save_qwen2

    if shape == "tiny":
        return save_qwen2(root / "tiny")
    extra = dict(SMOLLM2)
    vocab = extra.pop("vocab_size")
    folder = save_llama(root / "smollm2", **extra)
    _pad_vocab(folder, vocab)
    return folder


def _pad_vocab(folder: Path, vocab: int) -> None:
    """Grow the tokenizer to the model's vocabulary with plain added tokens, and the model with it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.add_tokens([f"<w{i}>" for i in range(vocab - len(tokenizer))])
    tokenizer.save_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    model.resize_token_embeddings(vocab)
    model.save_pretrained(str(folder))


#: A child's own peak RSS in kB: VmHWM (ru_maxrss would carry the parent's high-water mark across fork+exec).
_HWM = "[int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]"


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def torch_figures(folder: Path, ids: list[int], tokens: int, repeat: int = 1) -> dict[str, float]:
    """transformers fp32 in-process: prefill time and decode tokens/s with its KV cache (median of ``repeat``)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    runs = []
    with torch.no_grad():
        for _run in range(repeat + 1):  # the first run warms up
            start = time.perf_counter()
            out = model(torch.tensor([ids]), use_cache=True)
            first = time.perf_counter()
            for _ in range(tokens - 1):
                token = out.logits[0, -1].argmax().view(1, 1)
                out = model(token, past_key_values=out.past_key_values, use_cache=True)
            end = time.perf_counter()
            runs.append({"ttft_ms": (first - start) * 1000, "decode_tps": (tokens - 1) / (end - first)})
    return _median(runs[1:])


def torch_peak_rss_mb(folder: Path, tokens: int) -> float:
    """Peak RSS (MB) of a fresh process that loads the model in transformers and decodes ``tokens`` tokens."""
    code = ("import torch; from transformers import AutoModelForCausalLM; "
            f"m=AutoModelForCausalLM.from_pretrained({str(folder)!r}, dtype=torch.float32).eval(); "
            f"torch.no_grad().__enter__(); m.generate(torch.tensor([[1, 2, 3]]), max_new_tokens={tokens}, "
            "do_sample=False); print(" + _HWM + ")")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return int(done.stdout.split()[-1]) / 1024


def og_figures(bundle: Path, ids: list[int], tokens: int, repeat: int = 1) -> dict[str, float]:
    """onnxruntime-genai in-process on the bundle's model: greedy, a plain loop (median of ``repeat``)."""
    import numpy as np
    import onnxruntime_genai as og

    model = og.Model(str(bundle))
    runs = []
    for _run in range(repeat + 1):  # the first run warms up
        start = time.perf_counter()  # a request's own generator is part of its time to first token, as served
        params = og.GeneratorParams(model)
        params.set_search_options(do_sample=False, max_length=len(ids) + tokens)
        generator = og.Generator(model, params)
        generator.append_tokens(np.asarray([ids], dtype=np.int32))
        generator.generate_next_token()
        first = time.perf_counter()
        for _ in range(tokens - 1):
            generator.generate_next_token()
        end = time.perf_counter()
        runs.append({"ttft_ms": (first - start) * 1000, "decode_tps": (tokens - 1) / (end - first)})
    return _median(runs[1:])


def _stream_once(client: Any, url: str, model: str, tokens: int, out: list[dict[str, float]]) -> None:
    """One streamed chat on ``client`` (an httpx.Client kept alive, as real clients are)."""
    body = {"model": model, "messages": PROMPT, "temperature": 0, "max_tokens": tokens, "stream": True,
            "stream_options": {"include_usage": True}}  # fmt: skip
    start = time.perf_counter()
    first = last = 0.0
    used = 0
    with client.stream("POST", url + "/v1/chat/completions", json=body, timeout=600) as response:
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = first or time.perf_counter()
                last = time.perf_counter()
            if chunk.get("usage"):
                used = chunk["usage"]["completion_tokens"]
    out.append({"ttft_ms": (first - start) * 1000, "tokens": used, "first": first, "last": last})


def _peak_rss_mb(pid: int) -> float:
    """A live process's peak resident set (VmHWM), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def served_figures(
    bundle: Path, tokens: int, streams: list[int], repeat: int = 1
) -> tuple[dict[str, dict[str, float]], float]:
    """The bundle behind ``maaskit serve`` (its own process, 127.0.0.1), streamed: one stream (median of
    ``repeat``) and N concurrent streams; and the server's peak RSS (MB)."""
    import httpx

    from bench.common import free_port, maaskit_serve, start_server
    from bundle import open_bundle

    name = open_bundle(bundle).manifest.name
    port = free_port()
    figures: dict[str, dict[str, float]] = {}
    env = {"MAASKIT_GENERATION_QUEUE": "64", "MAASKIT_ACCESS_LOG": "false"}
    with start_server(f"generation-{name}", maaskit_serve(bundle, port), port, env) as server:
        clients = [httpx.Client() for _ in range(max(streams))]
        for client in clients:  # open the connections and warm the path
            _stream_once(client, server.url, name, 4, [])
        for count in streams:
            runs = []
            for _run in range(repeat if count == 1 else 1):
                results: list[dict[str, float]] = []
                jobs = [(client, server.url, name, tokens, results) for client in clients[:count]]
                threads = [threading.Thread(target=_stream_once, args=job) for job in jobs]
                begin = time.perf_counter()
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                end = max(result["last"] for result in results)
                total = sum(result["tokens"] for result in results)
                one = results[0]
                decode = (one["tokens"] - 1) / (one["last"] - one["first"]) if count == 1 else total / (end - begin)
                runs.append({"ttft_ms": statistics.median(r["ttft_ms"] for r in results), "decode_tps": decode})
            figures[f"{count}"] = _median(runs)
        for client in clients:
            client.close()
        peak = _peak_rss_mb(server.process.pid)
    return figures, peak


def cold_start(bundle: Path) -> tuple[float, float]:
    """(seconds from a fresh process's start to its first generated token, that process's peak RSS in MB)."""
    code = ("from handlers.generation.runtime import load_generative; "
            "from handlers.generation.engine import GenerationRequest; from handlers.settings import Settings; "
            f"r=load_generative({str(bundle)!r}, Settings.load(environ={{}}), warm=False); "
            "r.engine.generate(GenerationRequest([1, 2, 3], 1)); "
            "print(" + _HWM + ")")  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return time.perf_counter() - start, int(done.stdout.split()[-1]) / 1024


def _row(name: str, count: str, ttft: float, tps: float, base: float, own: float = 0.0, rss: str = "") -> None:
    ratio = f"{tps / base:.2f}x" if tps and base else ""
    versus = f"{tps / own:.2f}x" if tps and own else ""
    print(f"| {name} | {count} | {ttft:.1f} | {tps:.1f} | {ratio} | {versus} | {rss} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=["smollm2", "tiny"], default="smollm2")
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "int8", "int4"])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeat", type=int, default=3, help="Runs whose median the single-stream figures are.")
    parser.add_argument("--folder", type=Path, help="Reuse a model folder (skip building it).")
    parser.add_argument("--bundle", type=Path, nargs="*", default=[], help="Reuse packaged bundles (skip packaging).")
    args = parser.parse_args()
    from bundle import open_bundle
    from handlers.generation.processor import GenerationProcessor
    from model_packager import package

    print(f"| engine | streams | TTFT ms | decode tok/s | vs transformers | vs genai same precision | peak RSS MB |"
          f"  ({args.shape}, {args.tokens} tokens)")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |", flush=True)
    reused = {}
    for path in args.bundle:
        spec = open_bundle(path).manifest.generation
        assert spec is not None, f"{path} is not a text-generation bundle"
        reused[spec.precision] = path
    with tempfile.TemporaryDirectory(prefix="maaskit-bench-gen-") as tmp:
        folder = args.folder or build(args.shape, Path(tmp))
        base = 0.0
        for precision in args.precision:
            directory = reused.get(precision)
            if directory is None:
                quantize = None if precision == "fp32" else precision
                started = time.perf_counter()
                out = Path(tmp) / "b"
                directory = package(
                    folder, name=f"bench-{precision}", version="1.0.0", out=out, quantize=quantize
                ).directory
                print(f"packaged {precision} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            ids = GenerationProcessor(open_bundle(directory)).chat_ids(PROMPT)
            if not base:
                reference = torch_figures(folder, ids, args.tokens, args.repeat)
                base = reference["decode_tps"]
                rss = f"{torch_peak_rss_mb(folder, args.tokens):.0f}"
                _row("transformers fp32 (torch, in-process)", "1", reference["ttft_ms"], base, base, rss=rss)
            own = og_figures(directory, ids, args.tokens, args.repeat)
            mine = own["decode_tps"]
            _row(f"onnxruntime-genai {precision} (in-process)", "1", own["ttft_ms"], mine, base, mine)
            figures, server_rss = served_figures(directory, args.tokens, args.streams, args.repeat)
            for count, served in figures.items():
                name = f"maaskit {precision} served (HTTP, SSE)"
                _row(name, count, served["ttft_ms"], served["decode_tps"], base, mine if count == "1" else 0.0,
                     rss=f"{server_rss:.0f}" if count == "1" else "")  # fmt: skip
            seconds, peak = cold_start(directory)
            _row(f"cold start {precision} (fresh process to first token)", "-", seconds * 1000, 0.0, base,
                 rss=f"{peak:.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
