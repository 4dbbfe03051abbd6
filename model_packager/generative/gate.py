"""The generation parity gate: the exported bundle against the original model in transformers, from text.

Four checks on the sample prompts: the bundle's tokenizer (Rust ``tokenizers`` on its tokenizer.json)
gives transformers' ids; maaskit's chat template renderer gives ``apply_chat_template``'s text;
teacher-forced next-token logits at every prompt position agree (max abs and KL); greedy
continuations agree token for token (fp32: exactly, for the first ``golden_tokens`` tokens).

Quantized bundles cannot be held to exact tokens: rounding flips the choice wherever the original model
was nearly undecided, and from there the continuations part ways although neither is wrong. Their gate
is near-tie aware: a bundle token agrees when the original ranks it within ``near_tie_logits`` of its
own first choice (1.0 logit: the original gives it at least e^-1, about 37%, of its top token's
probability). Top-1 agreement is measured that way at every prompt position, and the bundle's own greedy
continuation is replayed through the original (teacher-forced, one pass) so that EVERY step is judged,
not only the steps before a first divergence. Exact agreement and the margin at the first divergence
are recorded beside them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bundle.genai import open_genai_model
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
    near_tie_logits: float | None = None
    """None: top-1 and greedy agreement are exact; else agreement within this many logits (quantized)."""
    min_greedy_near_tie: float = 0.0


QUANTIZED = GenerationTolerances(
    logits_max_abs=float("inf"), kl=0.5, min_top1=0.98, min_greedy_exact=0.0, near_tie_logits=1.0,
    min_greedy_near_tie=0.95,
)  # fmt: skip


#: fp16 (CUDA bundles, gated on the CPU execution provider): logits close, near-ties may flip.
HALF = GenerationTolerances(
    logits_max_abs=0.25, kl=0.01, min_top1=0.98, min_greedy_exact=0.0, near_tie_logits=1.0, min_greedy_near_tie=0.95
)


def tolerances_for_precision(precision: str) -> GenerationTolerances:
    """fp32: exact top-1 and greedy tokens; fp16 and quantized: near-tie-aware top-1 and greedy agreement, KL."""
    if precision == "fp32":
        return GenerationTolerances()
    return HALF if precision == "fp16" else QUANTIZED


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


def _gaps(logits: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Per row: how many logits below the row's best the ``chosen`` token sits (0 where it is the best)."""
    rows = np.arange(len(chosen))
    return np.asarray(logits.max(axis=-1) - logits[rows, chosen])


def _replay_gaps(model: Any, ids: list[int], tokens: list[int]) -> np.ndarray:
    """Teacher-forced on ``ids + tokens``: each of ``tokens``' gap below the original's first choice."""
    import torch

    if not tokens:
        return np.zeros(0)
    with torch.no_grad():
        logits = model(torch.tensor([ids + tokens[:-1]])).logits[0, len(ids) - 1 :].float().numpy()
    return _gaps(logits, np.asarray(tokens))


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


@dataclass
class _Agreement:
    """The logit and token agreement figures, accumulated over the prompts."""

    near: float | None
    max_abs: float = 0.0
    kl_max: float = 0.0
    top1_hits: int = 0
    top1_near: int = 0
    positions: int = 0
    greedy_near: int = 0
    greedy_steps: int = 0

    def add(self, hf_logits: np.ndarray, og_logits: np.ndarray, gaps: np.ndarray | None) -> None:
        """One prompt's teacher-forced logits, and the gaps of the bundle's greedy tokens (near-tie mode)."""
        self.max_abs = max(self.max_abs, float(np.abs(og_logits - hf_logits).max()))
        self.kl_max = max(self.kl_max, float(_kl(hf_logits, og_logits).max()))
        self.top1_hits += int((og_logits.argmax(-1) == hf_logits.argmax(-1)).sum())
        self.positions += hf_logits.shape[0]
        if self.near is not None and gaps is not None:
            self.top1_near += int((_gaps(hf_logits, og_logits.argmax(-1)) <= self.near).sum())
            self.greedy_near += int((gaps <= self.near).sum())
            self.greedy_steps += len(gaps)

    @property
    def top1(self) -> float:
        return self.top1_hits / max(self.positions, 1)

    @property
    def top1_gated(self) -> float:
        """Exact top-1 agreement, or near-tie aware when a band is set."""
        return self.top1 if self.near is None else self.top1_near / max(self.positions, 1)

    @property
    def greedy_near_share(self) -> float | None:
        return None if self.near is None else self.greedy_near / max(self.greedy_steps, 1)


def run_gate(source: CausalLMSource, exported: Path, prompts: Sequence[Prompt], *, golden_tokens: int,
             tolerances: GenerationTolerances, store_bundle_tokens: bool = False) -> GateResult:  # fmt: skip
    """Measure the bundle in ``exported`` against transformers on ``prompts``.

    The golden continuation stored is transformers' greedy tokens, or (``store_bundle_tokens``, for
    quantized bundles) the bundle's own, whose agreement with transformers the parity records.
    """
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf_tokenizer = AutoTokenizer.from_pretrained(str(source.path))
    hf_model = AutoModelForCausalLM.from_pretrained(str(source.path), dtype=torch.float32)
    hf_model.eval()  # type: ignore[no-untyped-call]
    ours = Tokenizer.from_file(str(exported / "tokenizer.json"))
    bundle_model = open_genai_model(exported)  # the CPU execution provider, whatever the bundle targets
    eos = set(source.eos_token_ids)
    token_agree = template_agree = templates = 0
    near = tolerances.near_tie_logits
    agreement = _Agreement(near)
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
        gaps = None if near is None else _replay_gaps(hf_model, reference_ids, og_tokens)
        agreement.add(hf_logits, og_logits, gaps)
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
    greedy_near_share = agreement.greedy_near_share
    passed = (
        token_agree == count
        and template_agree == templates
        and agreement.max_abs <= tolerances.logits_max_abs
        and agreement.kl_max <= tolerances.kl
        and agreement.top1_gated >= tolerances.min_top1
        and verdict.passed
        and (greedy_near_share is None or greedy_near_share >= tolerances.min_greedy_near_tie)
    )
    parity = GenerationParity(
        prompts=count,
        tokenizer_agreement=token_agree / count,
        template_agreement=template_agree / templates if templates else None,
        logits_max_abs=agreement.max_abs,
        logits_max_abs_tolerance=None if tolerances.logits_max_abs == float("inf") else tolerances.logits_max_abs,
        min_top1=tolerances.min_top1,
        kl_max=agreement.kl_max,
        kl_tolerance=tolerances.kl,
        top1_agreement=agreement.top1,
        greedy_tokens=golden_tokens,
        greedy_exact=verdict.exact,
        min_greedy_exact=tolerances.min_greedy_exact,
        first_divergence_margin=margin,
        near_tie_logits=near,
        top1_near_tie=None if near is None else agreement.top1_gated,
        greedy_near_tie=greedy_near_share,
        min_greedy_near_tie=None if near is None else tolerances.min_greedy_near_tie,
        passed=passed,
    )
    width = max(len(row) for row in ids_rows)
    return GateResult(parity, texts, _padded(ids_rows, width), _padded(golden, golden_tokens))
