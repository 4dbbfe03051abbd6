"""Stop strings held back until they cannot match; the chat template rendered as transformers renders it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundle.generation import judge_greedy
from bundle.processing.chat import ChatTemplateError, render_chat
from handlers.generation.stops import StopMatcher
from tests.genmodels import LLAMA_TEMPLATE, QWEN_TEMPLATE, save_llama, save_qwen2


def _run(stops: list[str], pieces: list[str]) -> tuple[str, bool]:
    matcher = StopMatcher(stops)
    sent = []
    for piece in pieces:
        text, hit = matcher.feed(piece)
        sent.append(text)
        if hit:
            return "".join(sent), True
    return "".join(sent) + matcher.flush(), False


@pytest.mark.parametrize(
    ("stops", "pieces", "sent", "hit"),
    [
        (["END"], ["hello E", "N", "D more"], "hello ", True),
        (["END"], ["hello E", "N", "o"], "hello ENo", False),
        (["\n\n", "###"], ["a\n", "b#", "##c"], "a\nb", True),
        ([], ["x", "y"], "xy", False),
        (["ab"], ["a", "a", "b"], "a", True),
    ],
)
def test_stop_matcher(stops: list[str], pieces: list[str], sent: str, hit: bool) -> None:
    assert _run(stops, pieces) == (sent, hit)


def test_stop_matcher_holds_back_only_possible_starts() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("xyz ST") == ("xyz ", False)
    assert matcher.feed("ay") == ("STay", False)


CONVERSATIONS = [
    [{"role": "user", "content": "hi"}],
    [{"role": "system", "content": " Be brief. "}, {"role": "user", "content": "a\nb"},
     {"role": "assistant", "content": "ok"}, {"role": "user", "content": "unicode: é ü 中 \"quotes\" <b>&</b>"}],
]  # fmt: skip


@pytest.mark.parametrize("kind", ["qwen2", "llama"])
def test_chat_template_agrees_with_transformers(tmp_path: Path, kind: str) -> None:
    from transformers import AutoTokenizer

    folder = (save_qwen2 if kind == "qwen2" else save_llama)(tmp_path / kind)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    template = QWEN_TEMPLATE if kind == "qwen2" else LLAMA_TEMPLATE
    tokens = {"bos_token": tokenizer.bos_token or "", "eos_token": tokenizer.eos_token}
    for messages in CONVERSATIONS:
        for prompt in (True, False):
            theirs = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt)
            assert render_chat(template, messages, add_generation_prompt=prompt, special_tokens=tokens) == theirs


def test_tojson_does_not_escape_html_and_raise_exception_refuses() -> None:
    assert render_chat("{{ messages[0] | tojson }}", [{"role": "user", "content": "<a>&é"}]) == (
        '{"role": "user", "content": "<a>&é"}'
    )
    with pytest.raises(ChatTemplateError, match="roles"):
        render_chat(LLAMA_TEMPLATE, [{"role": "tool", "content": "x"}], special_tokens={"bos_token": ""})


def test_template_sandbox_refuses_attribute_escape() -> None:
    with pytest.raises(ChatTemplateError):
        render_chat("{{ messages.__class__.__mro__[1].__subclasses__() }}", [])


def test_judge_greedy_pads_and_locates_the_first_divergence() -> None:
    import numpy as np

    golden = np.array([[5, 6, 7], [8, 2, -1]])
    assert judge_greedy(golden, [[5, 6, 7], [8, 2]]).passed
    verdict = judge_greedy(golden, [[5, 6, 7], [8, 3]])
    assert not verdict.passed and verdict.first_divergence == (1, 1) and verdict.exact == 0.5
