"""A screened step's token is the full logits' greedy token whenever it is given, under every token rule."""

from __future__ import annotations

import numpy as np
import pytest

from bundle.processing.whisper_rules import apply_rules
from bundle.processing.whisper_screen import ScreenedStep, screened_token
from bundle.speech import WhisperSpec

BEGIN, VOCAB, EOT = 300, 400, 250
SPEC = WhisperSpec(tokenizer_sha256="0" * 64, layers=1, heads=1, head_dim=4, vocab_size=VOCAB,
                   max_target_positions=448, max_new_tokens=224, start_token_id=260, eos_token_id=EOT,
                   no_timestamps_token_id=BEGIN - 1, timestamp_begin=BEGIN, multilingual=False,
                   suppress_tokens=[3, 7, 11], begin_suppress_tokens=[220, EOT],
                   max_initial_timestamp_index=50)  # fmt: skip
HISTORIES = [[], [5], [BEGIN], [BEGIN + 2, 9], [BEGIN, 9, BEGIN + 4], [BEGIN, 9, BEGIN + 4, BEGIN + 4], [8, 9, 10]]


def _screen(logits: np.ndarray, candidates: int, slack: float, rng: np.random.Generator) -> ScreenedStep:
    """What the graph gives for ``logits``: noisy estimates within ``slack``, top upper bounds' exact logits."""
    approx = logits[:BEGIN] + rng.uniform(-slack, slack, BEGIN).astype(np.float32)
    upper = approx + slack
    order = np.argsort(-upper, kind="stable")
    ids = order[:candidates]
    return ScreenedStep(ids, logits[ids], float(upper[order[candidates]]), logits[BEGIN:].copy())


@pytest.mark.parametrize("timestamps", [False, True])
@pytest.mark.parametrize("history", HISTORIES)
def test_a_given_token_is_always_the_full_logits_greedy_token(history: list[int], timestamps: bool) -> None:
    rng = np.random.default_rng(len(history) + 10 * timestamps)
    proven = 0
    for trial in range(300):
        scale = [0.3, 2.0, 8.0][trial % 3]  # flat (random weights) to peaked (a trained model)
        logits = (rng.standard_normal(VOCAB) * scale).astype(np.float32)
        if trial % 5 == 0:
            logits[BEGIN:] += 4.0  # timestamps likely to win the probability rule
        expected = int(np.argmax(apply_rules(SPEC, logits, history, timestamps)))
        for candidates, slack in ((1, 0.01), (8, 0.5), (32, 0.05)):
            token = screened_token(SPEC, _screen(logits, candidates, slack, rng), history, timestamps)
            if token is not None:
                assert token == expected, (trial, candidates, slack)
                proven += 1
    assert proven > 300  # the screen decides most steps; the rest go back to the full logits


def test_an_unproven_step_gives_none() -> None:
    logits = np.zeros(VOCAB, dtype=np.float32)
    logits[40], logits[41] = 5.0, 4.99  # the runner-up is outside the candidates but within the bound
    step = ScreenedStep(np.asarray([40]), logits[[40]], 5.5, logits[BEGIN:].copy())
    assert screened_token(SPEC, step, [5], timestamps=False) is None
    proven = ScreenedStep(np.asarray([40]), logits[[40]], 4.995, logits[BEGIN:].copy())
    assert screened_token(SPEC, proven, [5], timestamps=False) == 40
