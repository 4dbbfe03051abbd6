"""Generation benchmark: time to first token and decode tokens/s, served over HTTP (SSE) vs in-process.

    python -m bench.generation                      # SmolLM2-135M's shape (random weights), fp32
    python -m bench.generation --shape tiny         # the tests' tiny Qwen2 (seconds)
    python -m bench.generation --precision fp32 int4 --tokens 64 --streams 1 4

One run, side by side on this machine: transformers fp32 in-process (torch), onnxruntime-genai in-process
(the bundle's model, a plain Python loop), and the bundle served by the maaskit app over real HTTP on
127.0.0.1 with ``stream: true`` (one stream, then N concurrent streams: aggregate tokens/s). Cold start
is a fresh process from its start to the first generated token. Compare ratios from one run only.
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


def torch_figures(folder: Path, ids: list[int], tokens: int) -> dict[str, float]:
    """transformers fp32 in-process: prefill time and decode tokens/s with its KV cache."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    with torch.no_grad():
        start = time.perf_counter()
        out = model(torch.tensor([ids]), use_cache=True)
        first = time.perf_counter()
        for _ in range(tokens - 1):
            token = out.logits[0, -1].argmax().view(1, 1)
            out = model(token, past_key_values=out.past_key_values, use_cache=True)
        end = time.perf_counter()
    return {"ttft_ms": (first - start) * 1000, "decode_tps": (tokens - 1) / (end - first)}


def og_figures(bundle: Path, ids: list[int], tokens: int) -> dict[str, float]:
    """onnxruntime-genai in-process on the bundle's model: greedy, a plain loop."""
    import numpy as np
    import onnxruntime_genai as og

    model = og.Model(str(bundle))
    for _warm in range(2):
        params = og.GeneratorParams(model)
        params.set_search_options(do_sample=False, max_length=len(ids) + tokens)
        generator = og.Generator(model, params)
        start = time.perf_counter()
        generator.append_tokens(np.asarray([ids], dtype=np.int32))
        generator.generate_next_token()
        first = time.perf_counter()
        for _ in range(tokens - 1):
            generator.generate_next_token()
        end = time.perf_counter()
    return {"ttft_ms": (first - start) * 1000, "decode_tps": (tokens - 1) / (end - first)}


def _stream_once(url: str, model: str, tokens: int, out: list[dict[str, float]]) -> None:
    import httpx

    body = {"model": model, "messages": PROMPT, "temperature": 0, "max_tokens": tokens, "stream": True,
            "stream_options": {"include_usage": True}}  # fmt: skip
    start = time.perf_counter()
    first = last = 0.0
    used = 0
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=600) as response:
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


def served_figures(bundle: Path, tokens: int, streams: list[int]) -> dict[str, dict[str, float]]:
    """The bundle behind the maaskit app (uvicorn on 127.0.0.1), streamed: one and N concurrent streams."""
    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.generation.runtime import load_generative
    from handlers.settings import Settings
    from tests.handlers.conftest import LiveServer

    settings = Settings.load(environ={}, access_log=False, metrics="none")
    runtime = load_generative(bundle, settings, max_waiting=64)
    figures: dict[str, dict[str, float]] = {}
    with LiveServer(create_app(ModelRepository([runtime]), settings)) as server:
        _stream_once(server.url, runtime.name, 4, [])  # warm the path
        for count in streams:
            results: list[dict[str, float]] = []
            threads = [threading.Thread(target=_stream_once, args=(server.url, runtime.name, tokens, results))
                       for _ in range(count)]  # fmt: skip
            begin = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            end = max(result["last"] for result in results)
            total = sum(result["tokens"] for result in results)
            one = results[0]
            decode = (one["tokens"] - 1) / (one["last"] - one["first"]) if count == 1 else total / (end - begin)
            figures[f"{count}"] = {"ttft_ms": statistics.median(r["ttft_ms"] for r in results), "decode_tps": decode}
    runtime.close()
    return figures


def cold_start(bundle: Path) -> float:
    """Seconds from a fresh process's start to its first generated token (load, warm-up on the samples, 1 token)."""
    code = ("import time; t=time.perf_counter(); from handlers.generation.runtime import load_generative; "
            "from handlers.generation.engine import GenerationRequest; from handlers.settings import Settings; "
            f"r=load_generative({str(bundle)!r}, Settings.load(environ={{}}), warm=False); "
            "r.engine.generate(GenerationRequest([1, 2, 3], 1)); print(time.perf_counter()-t)")  # fmt: skip
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def _row(name: str, count: str, ttft: float, tps: float, base: float) -> None:
    ratio = f"{tps / base:.2f}x" if tps and base else ""
    print(f"| {name} | {count} | {ttft:.1f} | {tps:.1f} | {ratio} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=["smollm2", "tiny"], default="smollm2")
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "int8", "int4"])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--folder", type=Path, help="Reuse a model folder (skip building it).")
    parser.add_argument("--bundle", type=Path, nargs="*", default=[], help="Reuse packaged bundles (skip packaging).")
    args = parser.parse_args()
    from bundle import open_bundle
    from handlers.generation.processor import GenerationProcessor
    from model_packager import package

    print(f"| engine | streams | TTFT ms | decode tok/s | vs transformers |  ({args.shape}, {args.tokens} tokens)")
    print("| --- | --- | --- | --- | --- |", flush=True)
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
                reference = torch_figures(folder, ids, args.tokens)
                base = reference["decode_tps"]
                _row("transformers fp32 (torch, in-process)", "1", reference["ttft_ms"], base, base)
            own = og_figures(directory, ids, args.tokens)
            _row(f"onnxruntime-genai {precision} (in-process)", "1", own["ttft_ms"], own["decode_tps"], base)
            for count, served in served_figures(directory, args.tokens, args.streams).items():
                _row(f"maaskit {precision} served (HTTP, SSE)", count, served["ttft_ms"], served["decode_tps"], base)
            _row(f"cold start {precision} (fresh process to first token)", "-", cold_start(directory) * 1000, 0.0, base)


if __name__ == "__main__":
    main()
