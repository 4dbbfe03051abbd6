"""What ``maaskit package`` prints about a generative bundle."""

from __future__ import annotations

from bundle.generation import GenerationSpec

__all__ = ["generation_lines"]


def generation_lines(spec: GenerationSpec) -> list[str]:
    """The task, limits and gate figures, a few lines."""
    gate = spec.parity
    template = "n/a" if gate.template_agreement is None else f"{gate.template_agreement:.0%}"
    margin = (
        "" if gate.first_divergence_margin is None else f", first divergence margin {gate.first_divergence_margin:.3g}"
    )
    near = (
        ""
        if gate.top1_near_tie is None
        else f"; within {gate.near_tie_logits:g} logit of the original: top-1 {gate.top1_near_tie:.1%}, "
        f"greedy steps {gate.greedy_near_tie or 0.0:.1%}"
    )
    return [
        f"  task    text-generation: {spec.architecture} {spec.precision} on {spec.execution_provider}, "
        f"context {spec.context_length} tokens, max new tokens {spec.max_new_tokens}, eos {spec.eos_token_ids}",
        f"  gate    tokenizer {gate.tokenizer_agreement:.0%}, chat template {template}, logits max abs "
        f"{gate.logits_max_abs:.2g}, KL {gate.kl_max:.2g}, top-1 {gate.top1_agreement:.1%}, greedy "
        f"{gate.greedy_tokens} tokens exact on {gate.greedy_exact:.0%} of {gate.prompts} prompts{margin}{near}",
    ]
