"""``maaskit verify`` for generative bundles: re-tokenize the sample prompts and replay their golden continuations.

The same checks as the runtime's warm-up (the ids stored at packaging, then the greedy tokens judged by
:func:`bundle.generation.judge_greedy`), run with onnxruntime-genai and the Rust tokenizers only.
"""

from __future__ import annotations

import json

import numpy as np

from bundle import Bundle
from bundle.generation import PAD_ID, GreedyVerdict, judge_greedy
from bundle.processing.chat import render_chat

__all__ = ["replay_golden"]


def replay_golden(bundle: Bundle) -> tuple[bool, str]:
    """(passed, one line): the bundle's prompts tokenize as stored and reproduce their golden tokens."""
    import onnxruntime_genai as og
    from tokenizers import Tokenizer

    spec = bundle.manifest.generation
    if spec is None:
        return False, f"{bundle.key} is not a text-generation bundle"
    samples = bundle.samples()
    tokenizer = Tokenizer.from_file(str(bundle.root / spec.tokenizer_file))
    template = (bundle.root / spec.chat_template_file).read_text(encoding="utf-8") if spec.chat_template_file else None
    model = og.Model(str(bundle.root))
    eos = set(spec.eos_token_ids)
    generated: list[list[int]] = []
    for index, raw in enumerate(samples.inputs["prompt"].tolist()):
        prompt = json.loads(str(raw))
        if "messages" in prompt and template is not None:
            text = render_chat(template, prompt["messages"], special_tokens=spec.template_tokens)
            ids = tokenizer.encode(text, add_special_tokens=False).ids
        else:
            ids = tokenizer.encode(prompt["prompt"], add_special_tokens=True).ids
        stored = [int(t) for t in samples.inputs["input_ids"][index] if int(t) != PAD_ID]
        if list(ids) != stored:
            return False, f"sample prompt {index} tokenizes to other ids than at packaging"
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
    verdict: GreedyVerdict = judge_greedy(samples.outputs["greedy_ids"], generated)
    return verdict.passed, verdict.describe()
