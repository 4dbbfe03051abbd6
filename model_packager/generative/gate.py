"""The generation parity gate: the exported bundle against the original model in transformers, from text.

Four checks on the sample prompts: the bundle's tokenizer (Rust ``tokenizers`` on its tokenizer.json)
gives transformers' ids; maaskit's chat template renderer gives ``apply_chat_template``'s text;
teacher-forced next-token logits at every prompt position agree (max abs and KL); greedy
continuations agree token for token (fp32: exactly, for the first ``golden_tokens`` tokens).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bundle.generation import PAD_ID, GenerationParity, judge_greedy
from bundle.processing.chat import render_chat
from model_packager.generative.source import CausalLMSource

__all__ = ["GateResult", "GenerationTolerances", "Prompt", "run_gate", "tolerances_for_precision"]

Prompt = dict[str, Any]
"""``{"messages": [...]}`` (chat) or ``{"prompt": "..."}`` (plain text)."""


@dataclass(frozen=True)
class GenerationTolerances:
    """Limits of the gate; fp32 defaults (logits to 1e-3, KL 1e-4, every greedy token exact)."""

    logits_max_abs: float = 1e-3
    kl: float = 1e-4
    min_top1: float = 1.0
    min_greedy_exact: float = 1.0


QUANTIZED = GenerationTolerances(logits_max_abs=float("inf"), kl=0.5, min_top1=0.9, min_greedy_exact=0.0)


def tolerances_for_precision(precision: str) -> GenerationTolerances:
    """fp32: exact greedy tokens; quantized: top-1 and KL gated, greedy agreement recorded."""
    return GenerationTolerances() if precision == "fp32" else QUANTIZED


@dataclass(frozen=True)
class GateResult:
    """The gate's figures and the samples it leaves: prompts, their ids and golden greedy tokens."""

    parity: GenerationParity
    prompts: list[str]
    input_ids: np.ndarray
    greedy_ids: np.ndarray


def _kl(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    def log_softmax(values: np.ndarray) -> np.ndarray:
        shifted = values.astype(np.float64) - values.max(axis=-1, keepdims=True)
        return np.asarray(shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True)))

    ref, cand = log_softmax(reference), log_softmax(candidate)
    return np.asarray(np.sum(np.exp(ref) * (ref - cand), axis=-1))


def _hf_greedy(model: Any, ids: list[int], steps: int, eos: set[int]) -> tuple[list[int], list[np.ndarray]]:
    import torch

    tokens: list[int] = []
    step_logits: list[np.ndarray] = []
    sequence = list(ids)
    with torch.no_grad():  # the whole sequence each step: no cache API to depend on, and fp32 throughout
        for _ in range(steps):
            logits = model(torch.tensor([sequence]), use_cache=False).logits[0, -1].float().numpy()
            token = int(np.argmax(logits))
            tokens.append(token)
            step_logits.append(logits)
            sequence.append(token)
            if token in eos:
                break
    return tokens, step_logits


def _og_run(model: Any, ids: list[int], steps: int, eos: set[int]) -> tuple[np.ndarray, list[int]]:
    import onnxruntime_genai as og

    params = og.GeneratorParams(model)
    params.set_search_options(do_sample=False, max_length=len(ids) + steps, batch_size=1)
    generator = og.Generator(model, params)
    generator.append_tokens(np.asarray([ids], dtype=np.int32))
    logits = np.asarray(generator.get_output("logits"))[0].astype(np.float32)
    tokens: list[int] = []
    while len(tokens) < steps:
        generator.generate_next_token()
        token = int(generator.get_next_tokens()[0])
        tokens.append(token)
        if token in eos or generator.is_done():
            break
    return logits, tokens


def _prompt_text(prompt: Prompt, tokenizer: Any, source: CausalLMSource) -> tuple[str, str | None, bool]:
    """(maaskit's text, transformers' text or None, is_chat)."""
    if "messages" in prompt:
        assert source.chat_template is not None
        ours = render_chat(source.chat_template, prompt["messages"], special_tokens=source.template_tokens)
        theirs = tokenizer.apply_chat_template(prompt["messages"], tokenize=False, add_generation_prompt=True)
        return ours, str(theirs), True
    return str(prompt["prompt"]), None, False


def _padded(rows: Sequence[list[int]], width: int) -> np.ndarray:
    array = np.full((len(rows), width), PAD_ID, dtype=np.int64)
    for index, row in enumerate(rows):
        array[index, : len(row)] = row
    return array


def run_gate(source: CausalLMSource, exported: Path, prompts: Sequence[Prompt], *, golden_tokens: int,
             tolerances: GenerationTolerances, store_bundle_tokens: bool = False) -> GateResult:  # fmt: skip
    """Measure the bundle in ``exported`` against transformers on ``prompts``.

    The golden continuation stored is transformers' greedy tokens, or (``store_bundle_tokens``, for
    quantized bundles) the bundle's own, whose agreement with transformers the parity records.
    """
    import onnxruntime_genai as og
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf_tokenizer = AutoTokenizer.from_pretrained(str(source.path))
    hf_model = AutoModelForCausalLM.from_pretrained(str(source.path), dtype=torch.float32)
    hf_model.eval()  # type: ignore[no-untyped-call]
    ours = Tokenizer.from_file(str(exported / "tokenizer.json"))
    bundle_model = og.Model(str(exported))
    eos = set(source.eos_token_ids)
    token_agree = template_agree = templates = 0
    max_abs = kl_max = 0.0
    top1_hits = positions = 0
    texts: list[str] = []
    ids_rows: list[list[int]] = []
    golden: list[list[int]] = []
    generated: list[list[int]] = []
    reference: list[list[int]] = []
    margin: float | None = None
    for prompt in prompts:
        text, reference_text, chat = _prompt_text(prompt, hf_tokenizer, source)
        if reference_text is not None:
            templates += 1
            template_agree += int(text == reference_text)
        reference_ids = [int(i) for i in hf_tokenizer(reference_text or text, add_special_tokens=not chat)["input_ids"]]
        ids = ours.encode(text, add_special_tokens=not chat).ids
        token_agree += int(ids == reference_ids)
        with torch.no_grad():
            hf_logits = hf_model(torch.tensor([reference_ids])).logits[0].float().numpy()
        og_logits, og_tokens = _og_run(bundle_model, reference_ids, golden_tokens, eos)
        max_abs = max(max_abs, float(np.abs(og_logits - hf_logits).max()))
        kl_max = max(kl_max, float(_kl(hf_logits, og_logits).max()))
        top1_hits += int((og_logits.argmax(-1) == hf_logits.argmax(-1)).sum())
        positions += hf_logits.shape[0]
        hf_tokens, hf_steps = _hf_greedy(hf_model, reference_ids, golden_tokens, eos)
        step = next((i for i, (a, b) in enumerate(zip(hf_tokens, og_tokens, strict=False)) if a != b), None)
        if step is not None and margin is None:
            margin = float(hf_steps[step][hf_tokens[step]] - hf_steps[step][og_tokens[step]])
        texts.append(json.dumps(prompt, ensure_ascii=False, sort_keys=True))
        ids_rows.append(reference_ids)
        golden.append(og_tokens if store_bundle_tokens else hf_tokens)
        generated.append(og_tokens)
        reference.append(hf_tokens)
    verdict = judge_greedy(_padded(reference, golden_tokens), generated, min_exact=tolerances.min_greedy_exact)
    count = len(prompts)
    top1 = top1_hits / max(positions, 1)
    passed = (
        token_agree == count
        and template_agree == templates
        and max_abs <= tolerances.logits_max_abs
        and kl_max <= tolerances.kl
        and top1 >= tolerances.min_top1
        and verdict.passed
    )
    parity = GenerationParity(
        prompts=count,
        tokenizer_agreement=token_agree / count,
        template_agreement=template_agree / templates if templates else None,
        logits_max_abs=max_abs,
        logits_max_abs_tolerance=None if tolerances.logits_max_abs == float("inf") else tolerances.logits_max_abs,
        min_top1=tolerances.min_top1,
        kl_max=kl_max,
        kl_tolerance=tolerances.kl,
        top1_agreement=top1,
        greedy_tokens=golden_tokens,
        greedy_exact=verdict.exact,
        min_greedy_exact=tolerances.min_greedy_exact,
        first_divergence_margin=margin,
        passed=passed,
    )
    width = max(len(row) for row in ids_rows)
    return GateResult(parity, texts, _padded(ids_rows, width), _padded(golden, golden_tokens))
