"""The cold-start measurement runs: a fresh process streams its first token before the answer ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.cold_start import measure


@pytest.mark.parametrize("source", ["function_url", "apigw"])
def test_a_fresh_process_streams_a_chat_answer(tiny_llama: Path, source: str):
    result = measure(tiny_llama, source, max_tokens=16)
    assert result.tokens > 1
    assert 0 < result.prelude_s <= result.first_token_s < result.last_chunk_s < 120
