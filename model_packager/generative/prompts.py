"""Sample prompts of the generation gate: ``--sample prompts.jsonl`` (messages or plain text), else a built-in set."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model_packager.converters.base import SampleMismatchError

__all__ = ["BUILTIN_PROMPTS", "MAX_PROMPTS", "load_prompts"]

MAX_PROMPTS = 16
_ROLES = {"system", "user", "assistant"}

#: Chat and plain-text prompts used when no sample is given (system, user and assistant turns included).
BUILTIN_PROMPTS: list[dict[str, Any]] = [
    {"messages": [{"role": "user", "content": "Write a short story about a dragon who learns to bake bread."}]},
    {
        "messages": [
            {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "Paris."},
            {"role": "user", "content": "And of Germany?"},
        ]
    },
    {"prompt": "Once upon a time there was a small robot who"},
    {"prompt": "The quick brown fox"},
]


def _checked(item: Any, where: str) -> dict[str, Any]:
    if isinstance(item, str) and item:
        return {"prompt": item}
    if isinstance(item, dict) and isinstance(item.get("prompt"), str) and item["prompt"]:
        return {"prompt": item["prompt"]}
    messages = item.get("messages") if isinstance(item, dict) else None
    if isinstance(messages, list) and messages:
        for message in messages:
            if not (
                isinstance(message, dict) and message.get("role") in _ROLES and isinstance(message.get("content"), str)
            ):
                raise SampleMismatchError(
                    f'{where}: each message must be {{"role": system|user|assistant, "content": text}}'
                )
        return {"messages": [{"role": m["role"], "content": m["content"]} for m in messages]}
    raise SampleMismatchError(f'{where}: a prompt is {{"messages": [...]}}, {{"prompt": "..."}} or a JSON string')


def load_prompts(
    sample: str | Path | Sequence[Any] | None, has_template: bool
) -> tuple[list[dict[str, Any]], str | None]:
    """The prompts, and a note when the built-in set was used (chat prompts need a chat template)."""
    if sample is None:
        prompts = [p for p in BUILTIN_PROMPTS if has_template or "prompt" in p]
        return prompts, f"no --sample given: the gate used maaskit's {len(prompts)} built-in prompts"
    if isinstance(sample, str | Path):
        path = Path(sample)
        if path.suffix.lower() != ".jsonl" or not path.is_file():
            raise SampleMismatchError(f"sample {path}: text-generation takes a .jsonl file, one prompt per line")
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        try:
            items: list[Any] = [json.loads(line) for line in lines]
        except ValueError as exc:
            raise SampleMismatchError(f"sample {path.name} is not JSON lines: {exc}") from None
        where = path.name
    else:
        items, where = list(sample), "sample"
    if not items or len(items) > MAX_PROMPTS:
        raise SampleMismatchError(f"{where}: give 1 to {MAX_PROMPTS} prompts, not {len(items)}")
    prompts = [_checked(item, f"{where} item {index}") for index, item in enumerate(items)]
    if not has_template and any("messages" in p for p in prompts):
        raise SampleMismatchError(f"{where}: chat prompts need a chat template, and this model has none")
    return prompts, None
