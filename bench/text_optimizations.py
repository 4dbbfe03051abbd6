"""Text bundles on CPU: fp32, transformer-fused, int8 and int8 + fused, against sentence-transformers on torch.

A MiniLM-L6-shaped sentence-transformers model (hidden 384, 6 layers, 12 heads, vocab 30522, mean
pooling + Normalize; random weights, built on the spot: nothing is downloaded) is packaged through
``model_packager.package`` once per variant, with the raw-text parity gate. Each bundle then runs
in-process as the runtime runs it (``bundle.processing.text`` + onnxruntime, tokenization included)
against ``SentenceTransformer.encode`` on torch, same threads, texts of about 16 and 128 tokens,
batch 1 and 32, in alternating rounds. Prints one Markdown table: median ms per call, the ratio
to torch, the bundle's size and the cosine the parity gate recorded.

    python -m bench.text_optimizations --threads 2 --seconds 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out" / "text"
VARIANTS: dict[str, dict[str, Any]] = {
    "fp32": {},
    "fp32 + transformer fusion": {"optimize": "transformer"},
    "int8": {"quantize": "int8"},
    "int8 + transformer fusion": {"quantize": "int8", "optimize": "transformer"},
}
SHORT = "the cat sat on the mat and the dog sat on the road"  # ~16 tokens with specials
LONG = " ".join(["the weather in london is cold and the rain keeps going on the river"] * 9)  # ~128 tokens


def build_model(directory: Path) -> Path:
    """A MiniLM-L6-shaped sentence-transformers folder with random weights and a 30522-token WordPiece vocab."""
    import torch
    from sentence_transformers import SentenceTransformer, models  # type: ignore[attr-defined]
    from transformers import BertConfig, BertModel, BertTokenizerFast  # type: ignore[attr-defined]

    from tests.textmodels import wordpiece_tokenizer

    if (directory / "modules.json").is_file():
        return directory
    base = directory.parent / "minilm-base"
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536
    )
    model: Any = BertModel(config)
    model.eval().save_pretrained(base)
    tokenizer = wordpiece_tokenizer(vocab_size=30522)
    BertTokenizerFast(tokenizer_object=tokenizer, model_max_length=512).save_pretrained(base)
    transformer = models.Transformer(str(base), max_seq_length=256)
    pooling = models.Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu").save(str(directory))
    return directory


def _median_ms(run: Any, budget_s: float, max_calls: int = 200) -> float:
    run()
    times: list[float] = []
    stop = time.perf_counter() + budget_s
    while len(times) < max_calls and time.perf_counter() < stop:
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=2.0, help="time budget per cell and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rebuild", action="store_true", help="package again even when bench/out holds the bundles")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    import onnxruntime as ort
    import torch
    from sentence_transformers import SentenceTransformer

    from bundle import open_bundle
    from bundle.processing.text import load_tokenizer
    from model_packager import package
    from model_packager.parity import ParityError
    from model_packager.text_optimize import OptimizationRefusedError

    torch.set_num_threads(args.threads)
    folder = build_model(OUT / "minilm")
    bundles: dict[str, Any] = {}
    for label, options in VARIANTS.items():
        version = f"1.0.{list(VARIANTS).index(label)}"
        directory = OUT / "bundles" / f"minilm-{version}"
        if args.rebuild or not (directory / "manifest.json").is_file():
            try:
                package(folder, name="minilm", version=version, out=OUT / "bundles", force=True, **options)
            except (OptimizationRefusedError, ParityError) as exc:
                print(f"{label}: refused: {exc}")
                continue
        bundle = open_bundle(directory)
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(str(bundle.model_path), session_options, providers=["CPUExecutionProvider"])
        assert bundle.manifest.text is not None
        encoder = load_tokenizer(bundle.root, bundle.manifest.text)
        report = bundle.manifest.optimization.parity if bundle.manifest.optimization else bundle.manifest.parity
        checks = {c.metric: c.measured for c in report.checks}
        bundles[label] = (session, encoder, bundle.manifest.files["model.onnx"].size, checks)
    reference = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    cells = [(1, SHORT), (32, SHORT), (1, LONG), (32, LONG)]
    timings: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.rounds):  # alternate: a change in machine load touches every variant alike
        for index, (batch, text) in enumerate(cells):
            texts = [text] * batch
            with torch.no_grad():
                timings.setdefault(("torch", index), []).append(
                    _median_ms(lambda t=texts: reference.encode(t, batch_size=32), args.seconds)
                )
            for label, (session, encoder, _, _) in bundles.items():
                timings.setdefault((label, index), []).append(
                    _median_ms(lambda t=texts, s=session, e=encoder: s.run(None, e.encode(t).feed), args.seconds)
                )
    tokens = [len(reference.tokenizer(text)["input_ids"]) for text in (SHORT, LONG)]
    heads = [f"b{b} ~{tokens[0] if t == SHORT else min(tokens[1], 256)} tok" for b, t in cells]
    print(f"\n{args.threads} threads, median ms per call (x sentence-transformers on torch), {args.rounds} rounds\n")
    print("| variant | model.onnx | min cosine | ranking | " + " | ".join(heads) + " |")
    print("|---" * (4 + len(cells)) + "|")
    torch_ms = [statistics.median(timings[("torch", i)]) for i in range(len(cells))]
    print("| sentence-transformers (torch) | - | 1 | 1 | " + " | ".join(f"{ms:.2f}" for ms in torch_ms) + " |")
    for label, (_, _, size, checks) in bundles.items():
        row = [statistics.median(timings[(label, i)]) for i in range(len(cells))]
        cols = " | ".join(f"{ms:.2f} ({base / ms:.2f}x)" for ms, base in zip(row, torch_ms, strict=True))
        print(
            f"| {label} | {size / 1e6:.1f} MB | {checks['min_cosine']:.5f} | {checks['ranking_agreement']:.2f} | "
            f"{cols} |"
        )


if __name__ == "__main__":
    main()
