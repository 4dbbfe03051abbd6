"""Text in, token ids out, for generative bundles: chat messages through the bundle's chat template, or a prompt.

The template is rendered by :mod:`bundle.processing.chat` (as transformers renders it) and the text
tokenized by the Rust ``tokenizers`` library on the bundle's ``tokenizer.json``: the ids the parity gate
checked against transformers. Special-token text inside message content (``<|im_end|>`` typed by a
user) is refused, so content can never inject control tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from handlers.errors import InvalidInputError

if TYPE_CHECKING:
    from bundle import Bundle
    from handlers.vocabulary import Feed, Inputs, Outputs

__all__ = ["ROLES", "GenerationProcessor", "generation_processor"]

#: Message roles a chat request may carry.
ROLES = frozenset({"system", "user", "assistant"})


def _content(message: Any, index: int) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if content is None and message.get("role") == "assistant":
        return ""
    if isinstance(content, list):
        parts = []
        for part in content:
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise InvalidInputError(f"messages[{index}].content: this model reads text parts only, not {kind!r}")
            parts.append(part["text"])
        return "".join(parts)
    raise InvalidInputError(f"messages[{index}].content must be a string or a list of text parts")


class GenerationProcessor:
    """Prompt ids for a causal LM bundle; its ``preprocess`` refuses tensor protocols with the routes to use."""

    bodies: frozenset[str] = frozenset()
    score_labels: Mapping[str, Sequence[str]] = {}
    embedder: None = None

    def __init__(self, bundle: Bundle) -> None:
        from tokenizers import Tokenizer

        spec = bundle.manifest.generation
        if spec is None:
            raise ValueError(f"bundle {bundle.key} is not a text-generation bundle")
        self.name = bundle.manifest.name
        self.spec = spec
        self.tokenizer = Tokenizer.from_file(str(bundle.root / spec.tokenizer_file))
        self.template: str | None = None
        if spec.chat_template_file is not None:
            self.template = (bundle.root / spec.chat_template_file).read_text(encoding="utf-8")
        added = self.tokenizer.get_added_tokens_decoder()
        self.special_texts = sorted({token.content for token in added.values() if token.special}, key=len, reverse=True)

    def chat_ids(self, messages: Sequence[Any]) -> list[int]:
        """The prompt ids of a conversation (InvalidInputError naming the bad message)."""
        from bundle.processing.chat import ChatTemplateError, render_chat

        if self.template is None:
            raise InvalidInputError(f"model {self.name} has no chat template: use /v1/completions with a prompt")
        if not isinstance(messages, list) or not messages:
            raise InvalidInputError("messages must be a non-empty list of {role, content}")
        plain = []
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ROLES:
                role = message.get("role") if isinstance(message, dict) else None
                raise InvalidInputError(
                    f"messages[{index}].role must be system, user or assistant, not {role!r} (tools are not served)"
                )
            content = _content(message, index)
            found = next((text for text in self.special_texts if text in content), None)
            if found is not None:
                raise InvalidInputError(
                    f"messages[{index}].content holds the control token {found!r}; remove it (content cannot "
                    "inject special tokens)"
                )
            plain.append({"role": message["role"], "content": content})
        try:
            text = render_chat(self.template, plain, special_tokens=self.spec.template_tokens)
        except ChatTemplateError as exc:
            raise InvalidInputError(f"the model's chat template refused the conversation: {exc}") from None
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def prompt_ids(self, prompt: str) -> list[int]:
        """The ids of a plain prompt (special tokens added as transformers adds them)."""
        return list(self.tokenizer.encode(prompt, add_special_tokens=True).ids)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` (special tokens skipped)."""
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    def preprocess(self, inputs: Inputs) -> Feed:
        """Tensor protocols cannot drive a generator: a 400 naming the routes that can."""
        raise InvalidInputError(
            f"model {self.name} generates text: use POST /v1/chat/completions or /v1/completions "
            f"(or /models/{self.name}/v1/...)"
        )

    def postprocess(self, feed: Feed, outputs: Outputs) -> Outputs:
        """Never reached (preprocess refuses)."""
        return outputs

    def answer(self, inputs: Any, feed: Feed, outputs: Outputs, style: Any) -> Any:
        """Never reached (preprocess refuses)."""
        return self.preprocess(inputs)


def generation_processor(bundle: Bundle) -> GenerationProcessor:
    """The :data:`handlers.processing.PROCESSORS` factory for ``text-generation``."""
    return GenerationProcessor(bundle)
