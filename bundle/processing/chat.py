"""Chat templates rendered exactly as transformers renders them (``apply_chat_template``).

The same code runs at packaging (where the gate checks it against transformers on sample conversations)
and at serving, so a served prompt is the prompt the model was checked on. The environment is the one
transformers builds: jinja2's ``ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
extensions=[loopcontrols])``, a ``tojson`` filter that does not HTML-escape, ``raise_exception`` and
``strftime_now`` globals. jinja2 is the only dependency (imported on first use).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

__all__ = ["ChatTemplateError", "render_chat", "template_sha256"]

Message = Mapping[str, Any]


class ChatTemplateError(ValueError):
    """The template refused the conversation (its ``raise_exception``) or could not be rendered."""


def template_sha256(template: str) -> str:
    """The hex sha256 of a template's UTF-8 text (recorded in the manifest)."""
    return hashlib.sha256(template.encode("utf-8")).hexdigest()


def _raise_exception(message: str) -> None:
    raise ChatTemplateError(message)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
            sort_keys: bool = False) -> str:  # fmt: skip
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(format: str) -> str:
    return datetime.now().strftime(format)


@lru_cache(maxsize=8)
def _compiled(template: str) -> Any:
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env.from_string(template)


def render_chat(
    template: str,
    messages: Sequence[Message],
    *,
    add_generation_prompt: bool = True,
    special_tokens: Mapping[str, str] | None = None,
    **extra: Any,
) -> str:
    """The prompt text for ``messages`` (``special_tokens``: bos_token, eos_token, ... as the template uses them).

    Raises ChatTemplateError with the template's own message when it refuses the conversation.
    """
    from jinja2 import TemplateError

    context = {**dict(special_tokens or {}), **extra}
    try:
        return str(
            _compiled(template).render(
                messages=[dict(message) for message in messages], add_generation_prompt=add_generation_prompt, **context
            )
        )
    except ChatTemplateError:
        raise
    except TemplateError as exc:
        raise ChatTemplateError(f"the chat template failed: {exc}") from None
