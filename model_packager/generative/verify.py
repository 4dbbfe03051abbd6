"""``maaskit verify`` for generative bundles: re-tokenize the sample prompts and replay their golden continuations.

The same checks as the runtime's warm-up (the ids stored at packaging, then the greedy tokens judged by
:func:`bundle.judge.judge`, whose rule for these bundles is :func:`bundle.generation.judge_greedy`), run with
onnxruntime-genai and the Rust tokenizers only.
"""

from __future__ import annotations

import json

import numpy as np

from bundle import Bundle
from bundle.genai import open_genai_model
from bundle.generation import PAD_ID
from bundle.judge import GREEDY_KEY, Answer, RawSamples, Runner, judge, padded
from bundle.processing.chat import render_chat

__all__ = ["generative_runner", "replay_golden"]


def generative_runner(bundle: Bundle) -> Runner:
    """The judge's runner for a text-generation bundle: each sample prompt re-tokenized (the ids must be
    those stored at packaging) and continued greedily for the golden length by onnxruntime-genai."""
    import onnxruntime_genai as og
    from tokenizers import Tokenizer

    spec = bundle.manifest.generation
    if spec is None:
        raise ValueError(f"{bundle.key} is not a text-generation bundle")
    tokenizer = Tokenizer.from_file(str(bundle.root / spec.tokenizer_file))
    template = (bundle.root / spec.chat_template_file).read_text(encoding="utf-8") if spec.chat_template_file else None
    eos = set(spec.eos_token_ids)

    def run(raw: RawSamples) -> Answer:
        model = open_genai_model(bundle.root)  # CPU: verify runs where the packager does
        generated: list[list[int]] = []
        for index, text in enumerate(np.asarray(raw.tensors["prompt"]).tolist()):
            prompt = json.loads(str(text))
            if "messages" in prompt and template is not None:
                rendered = render_chat(template, prompt["messages"], special_tokens=spec.template_tokens)
                ids = tokenizer.encode(rendered, add_special_tokens=False).ids
            else:
                ids = tokenizer.encode(prompt["prompt"], add_special_tokens=True).ids
            stored = [int(t) for t in raw.tensors["input_ids"][index] if int(t) != PAD_ID]
            if list(ids) != stored:
                raise ValueError(f"sample prompt {index} tokenizes to other ids than at packaging")
            params = og.GeneratorParams(model)
            params.set_search_options(do_sample=False, max_length=len(ids) + spec.golden_tokens, batch_size=1)
            generator = og.Generator(model, params)
            generator.append_tokens(np.asarray([ids], dtype=np.int32))
            tokens: list[int] = []
            while len(tokens) < spec.golden_tokens and not generator.is_done():
                generator.generate_next_token()
                tokens.append(int(generator.get_next_tokens()[0]))
                if tokens[-1] in eos:
                    break
            generated.append(tokens)
        return Answer({GREEDY_KEY: padded(generated)})

    return run


def replay_golden(bundle: Bundle) -> tuple[bool, str]:
    """(passed, one line): the bundle's prompts tokenize as stored and reproduce their golden tokens."""
    try:
        verdict = judge(bundle.manifest, bundle.root, bundle.samples(), generative_runner(bundle))
    except ValueError as exc:
        return False, str(exc)
    if verdict.passed:
        return True, f"greedy tokens reproduced on {verdict.report.checks[0].measured:.0%} of the prompts"
    return False, "; ".join(verdict.problems)
