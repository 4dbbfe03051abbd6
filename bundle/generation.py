"""The manifest's ``generation`` section (causal LMs) and the greedy-token rule that judges them.

A ``text-generation`` bundle holds the decoder as onnxruntime-genai's model builder wrote it
(``model.onnx``, ``model.onnx.data``, ``genai_config.json``), the tokenizer files, the chat template
and the generation defaults. Its samples (``samples.npz``) are prompts with their golden greedy
continuation: ``input/prompt`` (JSON text: ``{"messages": [...]}`` or ``{"prompt": "..."}``),
``input/input_ids`` (the token ids transformers gave, padded with -1) and ``output/greedy_ids`` (the
first tokens transformers chose greedily, padded with -1 after an end-of-sequence token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "GENERATION_TASK",
    "GenerationDefaults",
    "GenerationParity",
    "GenerationSpec",
    "GreedyVerdict",
    "PAD_ID",
    "judge_greedy",
]

#: The manifest ``task`` of generative bundles.
GENERATION_TASK = "text-generation"
#: Padding of the ragged token arrays in samples.npz.
PAD_ID = -1
GenPrecision = Literal["fp32", "fp16", "int8", "int4"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GenerationDefaults(_Strict):
    """Sampling used when a request leaves a parameter out (from the model's ``generation_config.json``)."""

    temperature: float = Field(default=1.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    top_k: int = Field(default=0, ge=0)
    """0: no top-k cut."""
    repetition_penalty: float = Field(default=1.0, gt=0)


class GenerationParity(_Strict):
    """What the generation gate measured: the bundle against the original model in transformers."""

    prompts: int = Field(ge=1)
    tokenizer_agreement: float = Field(ge=0, le=1)
    """Share of sample texts tokenized to the same ids as transformers."""
    template_agreement: float | None = Field(default=None, ge=0, le=1)
    """Share of sample conversations whose rendered prompt equals ``apply_chat_template``'s (None: no template)."""
    logits_max_abs: float = Field(ge=0)
    """Largest difference of teacher-forced next-token logits over every prompt position."""
    logits_max_abs_tolerance: float | None = Field(default=None, ge=0)
    """None: not gated (quantized bundles are gated on top-1 agreement and KL)."""
    min_top1: float = Field(default=0.0, ge=0, le=1)
    kl_max: float = Field(ge=0)
    """Largest KL(transformers || bundle) of the next-token distributions."""
    kl_tolerance: float = Field(ge=0)
    top1_agreement: float = Field(ge=0, le=1)
    """Share of prompt positions whose most likely next token agrees."""
    greedy_tokens: int = Field(ge=1)
    """How many greedy tokens each prompt's golden continuation holds (fewer when it ends on eos)."""
    greedy_exact: float = Field(ge=0, le=1)
    """Share of prompts whose greedy continuation is token for token transformers'."""
    min_greedy_exact: float = Field(ge=0, le=1)
    first_divergence_margin: float | None = None
    """At the first diverging step: the original's logit margin between its choice and the bundle's."""
    near_tie_logits: float | None = Field(default=None, ge=0)
    """Quantized bundles: a token of the bundle's agrees when the original ranks it within this many logits of
    its own first choice (a near-tie, which rounding may flip). None: exact agreement only (fp32)."""
    top1_near_tie: float | None = Field(default=None, ge=0, le=1)
    """Share of prompt positions whose bundle top-1 token the original ranks within ``near_tie_logits``."""
    greedy_near_tie: float | None = Field(default=None, ge=0, le=1)
    """Share of the bundle's greedy steps (teacher-forced on its own continuation) that the original ranks
    within ``near_tie_logits`` of its first choice."""
    min_greedy_near_tie: float | None = Field(default=None, ge=0, le=1)
    passed: bool


class GenerationSpec(_Strict):
    """How a generative bundle generates: the model, its limits, its tokens and its chat template."""

    architecture: str = Field(min_length=1)
    """The transformers class, e.g. ``Qwen2ForCausalLM``."""
    model_type: str = Field(min_length=1)
    precision: GenPrecision = "fp32"
    execution_provider: Literal["cpu", "cuda"] = "cpu"
    context_length: int = Field(ge=2)
    """Prompt plus generated tokens at most."""
    max_new_tokens: int = Field(ge=1)
    """The cap on tokens one request generates (``max_tokens`` is clamped to it)."""
    eos_token_ids: list[int] = Field(min_length=1)
    bos_token_id: int | None = None
    vocab_size: int = Field(ge=1)
    tokenizer_file: str = "tokenizer.json"
    tokenizer_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    chat_template_file: str | None = "chat_template.jinja"
    chat_template_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    template_tokens: dict[str, str] = Field(default_factory=dict)
    """Special token texts the chat template reads (``bos_token``, ``eos_token``, ...)."""
    defaults: GenerationDefaults = GenerationDefaults()
    golden_tokens: int = Field(ge=1)
    """Greedy tokens stored per sample prompt (the warm-up replays them)."""
    replay_min_exact: float | None = Field(default=None, ge=0, le=1)
    """Share of the sample prompts whose stored golden continuation a replay (warm-up, ``verify``, the
    pre-traffic hook) must reproduce token for token. CPU bundles: 1.0 (the golden is transformers' own
    tokens for fp32, the bundle's own for int8/int4, and the CPU execution provider is deterministic).
    CUDA bundles: lower, as their golden was made on the CPU execution provider. None (older bundles):
    the gate's ``min_greedy_exact``."""
    parity: GenerationParity

    @model_validator(mode="after")
    def _template_pairs(self) -> GenerationSpec:
        if (self.chat_template_file is None) != (self.chat_template_sha256 is None):
            raise ValueError("chat_template_file and chat_template_sha256 go together")
        return self


@dataclass(frozen=True)
class GreedyVerdict:
    """Whether generated tokens reproduce the golden ones; where and how they first differ."""

    passed: bool
    exact: float
    """Share of prompts reproduced token for token."""
    first_divergence: tuple[int, int] | None = None
    """(prompt index, token step) of the first mismatch."""

    def describe(self) -> str:
        """One line for logs and errors."""
        if self.passed:
            return f"greedy tokens reproduced on {self.exact:.0%} of the prompts"
        prompt, step = self.first_divergence or (0, 0)
        return (
            f"greedy tokens differ from the golden continuation (prompt {prompt}, token {step}); exact {self.exact:.0%}"
        )


def _unpadded(row: np.ndarray) -> list[int]:
    return [int(value) for value in row if int(value) != PAD_ID]


def judge_greedy(golden: np.ndarray, generated: list[list[int]], *, min_exact: float = 1.0) -> GreedyVerdict:
    """THE rule for generative bundles: each prompt's greedy tokens must equal its golden continuation.

    ``golden`` is ``output/greedy_ids`` ([prompts, tokens], -1 padded); ``generated`` the tokens the
    bundle produced per prompt (at least as many as the golden row holds). ``min_exact`` is the share of
    prompts that must match exactly (1.0 for fp32).
    """
    matches = 0
    first: tuple[int, int] | None = None
    for index, (row, got) in enumerate(zip(golden, generated, strict=True)):
        want = _unpadded(row)
        step = next((i for i, token in enumerate(want) if i >= len(got) or got[i] != token), None)
        if step is None:
            matches += 1
        elif first is None:
            first = (index, step)
    exact = matches / max(len(generated), 1)
    return GreedyVerdict(exact >= min_exact, exact, first)
