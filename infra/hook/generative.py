"""The pre-traffic check of a text-generation bundle: replay its golden greedy continuations.

Each sample prompt (``input/prompt``: ``{"messages": [...]}`` or ``{"prompt": "..."}``) is sent to the new
version as the deployed API delivers it, an API Gateway REST event for ``POST
/models/<m>/v1/chat/completions`` (or ``/v1/completions``) through the resource ``/models/<m>/{proxy+}``,
non-streamed, ``temperature: 0`` and ``max_tokens`` = the golden continuation's length. A streaming
function answers ``Invoke`` with the HTTP integration prelude, 8 NUL bytes and the body; a buffered one
with a proxy answer: both are read. The answer's text is aligned with the golden tokens (token by token,
decoded with the bundle's tokenizer) and judged by the bundle's judge (:func:`bundle.judge.judge`), as
the packager's gate, ``maaskit verify`` and the runtime's warm-up judge it.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bundle.generation import PAD_ID
from bundle.judge import GREEDY_KEY, Answer, Verdict, judge, padded
from bundle.manifest import Manifest
from bundle.samples import Samples

try:
    from infra.hook.events import proxy_event
except ModuleNotFoundError:  # the staged asset: the hook's modules side by side at the top level
    from events import proxy_event  # type: ignore[import-not-found, no-redef, unused-ignore]

__all__ = [
    "DELIMITER",
    "GenerationCheckError",
    "aligned_tokens",
    "check_generation",
    "completion_event",
    "read_answer",
    "stream_decoder",
    "stream_text",
]

#: Between a streamed HTTP integration answer's prelude and its body.
DELIMITER = b"\x00" * 8
Invoke = Callable[[dict[str, Any]], bytes]
"""Sends one event to the new version and returns the raw ``Invoke`` payload."""
Decode = Callable[[list[int]], str]


class GenerationCheckError(ValueError):
    """The new version's answer could not be read (error status, no choices)."""


def _byte_of_char() -> dict[str, int]:
    """The inverse of byte-level BPE's byte-to-character table (GPT-2's ``bytes_to_unicode``)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {chr(byte): byte for byte in printable}
    extra = 0
    for byte in range(256):
        if byte not in printable:
            table[chr(256 + extra)] = byte
            extra += 1
    return table


def stream_text(data: bytes) -> str:
    """Bytes as a token stream renders them (onnxruntime-genai's ``TokenizerStream``): a lead byte waits for
    as many bytes as its sequence needs and the whole sequence is dropped when it is not valid UTF-8; a stray
    continuation byte is dropped; an unfinished sequence at the end is not shown."""
    out: list[str] = []
    pending = bytearray()
    need = 0
    for byte in data:
        if not pending:
            if byte < 0x80:
                out.append(chr(byte))
                continue
            need = 2 if 0xC0 <= byte < 0xE0 else 3 if 0xE0 <= byte < 0xF0 else 4 if 0xF0 <= byte < 0xF8 else 0
            if need:
                pending.append(byte)
            continue
        pending.append(byte)
        if len(pending) == need:
            with contextlib.suppress(UnicodeDecodeError):  # not valid UTF-8: dropped
                out.append(pending.decode("utf-8"))
            pending.clear()
    return "".join(out)


def stream_decoder(tokenizer_file: Path) -> Decode:
    """Token ids -> the text a streamed generation shows for them (special tokens left out).

    Byte-level BPE tokenizers (Llama 3, Qwen, SmolLM) are decoded to their exact bytes and rendered by
    :func:`stream_text`, so tokens that do not form valid UTF-8 (frequent in tiny random test models) are
    dropped exactly as the runtime drops them; other tokenizers decode with ``tokenizers`` itself.
    """
    from tokenizers import Tokenizer

    document = json.loads(tokenizer_file.read_text(encoding="utf-8"))
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    special = {int(item["id"]) for item in document.get("added_tokens", []) if item.get("special")}
    decoder = document.get("decoder") or {}
    kinds = {decoder.get("type")} | {item.get("type") for item in decoder.get("decoders", []) or []}
    if "ByteLevel" not in kinds:
        return lambda ids: str(tokenizer.decode(ids, skip_special_tokens=True))
    table = _byte_of_char()

    def decode(ids: list[int]) -> str:
        data = bytearray()
        for token in ids:
            if token in special:
                continue
            data.extend(table.get(char, 0x3F) for char in tokenizer.id_to_token(token) or "")
        return stream_text(bytes(data))

    return decode


def completion_event(model: str, prompt: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    """An API Gateway REST event asking ``model`` for a greedy, non-streamed completion of ``prompt``."""
    chat = "messages" in prompt
    leaf = "v1/chat/completions" if chat else "v1/completions"
    body = {"model": model, "temperature": 0, "max_tokens": max_tokens, "stream": False}
    body.update({"messages": prompt["messages"]} if chat else {"prompt": prompt["prompt"]})
    headers = {"content-type": "application/json", "accept": "application/json"}
    return proxy_event(f"/models/{model}", leaf, headers, json.dumps(body))


def read_answer(payload: bytes) -> tuple[int, Any]:
    """The status and JSON body of an ``Invoke`` payload: a streamed HTTP integration answer or a proxy one."""
    head, found, rest = payload.partition(DELIMITER)
    if found:
        status, raw = int(json.loads(head).get("statusCode", 0)), rest
    else:
        proxy = json.loads(payload or b"null")
        if not isinstance(proxy, dict) or "statusCode" not in proxy:
            raise GenerationCheckError(f"the new version's answer is no HTTP answer: {payload[:300]!r}")
        body = proxy.get("body") or ""
        raw = base64.b64decode(body) if proxy.get("isBase64Encoded") else str(body).encode()
        status = int(proxy["statusCode"])
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode("utf-8", "replace")[:500]


def _text_of(answer: Any) -> tuple[str, str | None]:
    try:
        choice = answer["choices"][0]
        text = choice["message"]["content"] if "message" in choice else choice["text"]
        return str(text or ""), choice.get("finish_reason")
    except (KeyError, IndexError, TypeError):
        raise GenerationCheckError(f"the answer holds no completion: {json.dumps(answer)[:300]}") from None


def aligned_tokens(golden: list[int], text: str, finish: str | None, decode: Decode, eos: set[int]) -> list[int]:
    """The golden tokens the answer ``text`` reproduces, in order, up to the first one it does not.

    Token ``k`` is reproduced when the decoded golden prefix through ``k`` is a prefix of ``text`` (a
    trailing incomplete UTF-8 sequence aside); at the end the whole text must be the decoded continuation
    and the finish reason the golden one (``stop`` on an end-of-sequence token, else ``length``).
    """
    got: list[int] = []
    for step, token in enumerate(golden):
        if not text.startswith(decode(golden[: step + 1]).rstrip("\ufffd")):
            return got
        got.append(token)
    expected_finish = "stop" if golden and golden[-1] in eos else "length"
    if got and (decode(golden) != text or (finish is not None and finish != expected_finish)):
        got[-1] = PAD_ID - 1  # the last step differs: more text, or another way to finish
    return got


def check_generation(
    manifest: Manifest, samples: Samples, root: Path, invoke: Invoke, decode: Decode | None = None
) -> tuple[Verdict, list[str]]:
    """Replay every sample prompt against ``invoke``; the verdict and one message per problem."""
    spec = manifest.generation
    if spec is None:
        raise ValueError(f"{manifest.name} is not a text-generation bundle")
    if decode is None:
        decode = stream_decoder(root / spec.tokenizer_file)

    golden = np.asarray(samples.outputs["greedy_ids"])
    prompts = [json.loads(str(text)) for text in np.asarray(samples.inputs["prompt"]).tolist()]
    eos = set(spec.eos_token_ids)
    generated: list[list[int]] = []
    problems: list[str] = []
    for index, (prompt, row) in enumerate(zip(prompts, golden, strict=True)):
        want = [int(token) for token in row if int(token) != PAD_ID]
        status, answer = read_answer(invoke(completion_event(manifest.name, prompt, len(want))))
        if status != 200:
            problems.append(f"prompt {index}: the new version answered HTTP {status}: {json.dumps(answer)[:300]}")
            generated.append([])
            continue
        text, finish = _text_of(answer)
        generated.append(aligned_tokens(want, text, finish, decode, eos))
    verdict = judge(manifest, root, samples, lambda _raw: Answer({GREEDY_KEY: padded(generated)}))
    return verdict, problems + verdict.problems
