"""Raw text -> model inputs, with the bundle's own ``tokenizer.json`` run by the Rust ``tokenizers`` library.

The packager's parity gate and every runtime path encode text here, so a bundle is checked with
exactly the tokenization it serves with. The rules (from the manifest's ``text`` TextSpec):

* special tokens added as the tokenizer's post-processor says (``[CLS] ... [SEP]`` for BERT);
* truncated to ``max_length`` tokens (special tokens included), from the right;
* padded on the right with ``pad_token_id`` to the longest sequence of the batch;
* int64 ``input_ids``, ``attention_mask`` (1 on real tokens) and ``token_type_ids`` (zeros for a
  single text), each only when the model takes it (``input_names``).

``offsets``, ``word_ids`` and ``tokens`` hold one entry per REAL token of each text (padding left
out); index ``j`` of text ``i`` is position ``j`` of row ``i`` of the feed, because padding is on the
right. Special tokens have offsets ``(0, 0)`` and word id None.

``tokenizers`` is imported when a tokenizer is first loaded, so tensor-only runtimes never need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bundle.errors import BundleError, BundleFormatError, InputError
from bundle.manifest import TextSpec

__all__ = ["EncodedBatch", "TextEncoder", "load_tokenizer"]


@dataclass(frozen=True)
class EncodedBatch:
    """A batch of texts (or token arrays) ready for onnxruntime, with what post-processing needs."""

    feed: dict[str, np.ndarray]
    """int64 arrays [batch, longest] keyed by ONNX input name."""
    token_counts: list[int]
    """Real (non-padding) tokens per text, special tokens included: the ``usage`` of a request."""
    offsets: list[list[tuple[int, int]]]
    """Per text, per real token: (start, end) character offsets into the text; (0, 0) for special tokens."""
    word_ids: list[list[int | None]]
    """Per text, per real token: index of the word it belongs to; None for special tokens."""
    tokens: list[list[str]]
    """Per text, per real token: the token string."""
    truncated: list[bool]
    """Per text: whether it was cut to ``max_length`` tokens."""


def _import_tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError:
        raise BundleError(
            "this bundle takes raw text and needs the tokenizers library: pip install tokenizers"
        ) from None
    return tokenizers


class TextEncoder:
    """Encodes texts exactly as the bundle's model was checked with (see the module docstring)."""

    def __init__(self, tokenizer: Any, spec: TextSpec) -> None:
        self._tokenizer = tokenizer
        self.spec = spec
        try:
            tokenizer.enable_truncation(max_length=spec.max_length, strategy="longest_first", direction="right")
        except Exception as exc:
            raise BundleFormatError(f"tokenizer cannot truncate to max_length {spec.max_length}: {exc}") from None
        pad_token = tokenizer.id_to_token(spec.pad_token_id)
        if pad_token is None:
            raise BundleFormatError(
                f"pad_token_id {spec.pad_token_id} is not in the tokenizer's vocabulary of {tokenizer.get_vocab_size()}"
            )
        tokenizer.enable_padding(direction="right", pad_id=spec.pad_token_id, pad_type_id=0, pad_token=pad_token)

    @property
    def max_length(self) -> int:
        """Longest token sequence the model takes (special tokens included)."""
        return self.spec.max_length

    @property
    def vocab_size(self) -> int:
        """Token ids must be below this."""
        return self.spec.vocab_size

    def encode(self, texts: Sequence[str]) -> EncodedBatch:
        """Tokenize ``texts`` (truncate, pad to the longest, masks); InputError on an empty or non-text batch."""
        if isinstance(texts, str):
            texts = [texts]
        if len(texts) == 0:
            raise InputError("no texts given: send at least one text")
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(f"text {index} is a {type(text).__name__}, not a string")
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=True)
        counts = [int(sum(encoding.attention_mask)) for encoding in encodings]
        return EncodedBatch(
            feed=self._feed(
                np.array([e.ids for e in encodings], dtype=np.int64),
                np.array([e.attention_mask for e in encodings], dtype=np.int64),
                np.array([e.type_ids for e in encodings], dtype=np.int64),
            ),
            token_counts=counts,
            offsets=[[(int(s), int(t)) for s, t in e.offsets[:n]] for e, n in zip(encodings, counts, strict=True)],
            word_ids=[list(e.word_ids[:n]) for e, n in zip(encodings, counts, strict=True)],
            tokens=[list(e.tokens[:n]) for e, n in zip(encodings, counts, strict=True)],
            truncated=[bool(e.overflowing) for e in encodings],
        )

    def encode_ids(self, token_arrays: Sequence[Sequence[int]]) -> EncodedBatch:
        """Take already tokenized sequences (special tokens included, as the model's tokenizer gives them).

        Each id must be in ``[0, vocab_size)`` and each sequence at most ``max_length`` long; the
        InputError names the sequence, the position and the limit.
        """
        if len(token_arrays) == 0:
            raise InputError("no token arrays given: send at least one")
        rows: list[list[int]] = []
        for index, array in enumerate(token_arrays):
            if isinstance(array, str | bytes) or not isinstance(array, Sequence | np.ndarray):
                raise InputError(f"token array {index} must be a list of integer token ids")
            if len(array) == 0:
                raise InputError(f"token array {index} is empty: send at least one token id")
            if len(array) > self.max_length:
                raise InputError(
                    f"token array {index} has {len(array)} tokens; the model takes at most max_length "
                    f"{self.max_length} (special tokens included)"
                )
            row: list[int] = []
            for position, value in enumerate(array):
                if isinstance(value, bool) or not isinstance(value, int | np.integer):
                    raise InputError(f"token array {index}, position {position}: {value!r} is not an integer id")
                if not 0 <= int(value) < self.vocab_size:
                    raise InputError(
                        f"token array {index}, position {position}: id {int(value)} is out of range; "
                        f"ids must be >= 0 and < vocab_size {self.vocab_size}"
                    )
                row.append(int(value))
            rows.append(row)
        longest = max(len(row) for row in rows)
        ids = np.full((len(rows), longest), self.spec.pad_token_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        for index, row in enumerate(rows):
            ids[index, : len(row)] = row
            mask[index, : len(row)] = 1
        return EncodedBatch(
            feed=self._feed(ids, mask, np.zeros_like(ids)),
            token_counts=[len(row) for row in rows],
            offsets=[[(0, 0)] * len(row) for row in rows],
            word_ids=[[None] * len(row) for row in rows],
            tokens=[[self._tokenizer.id_to_token(i) or "" for i in row] for row in rows],
            truncated=[False] * len(rows),
        )

    def _feed(self, ids: np.ndarray, mask: np.ndarray, type_ids: np.ndarray) -> dict[str, np.ndarray]:
        arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": type_ids}
        return {name: np.ascontiguousarray(arrays[name]) for name in self.spec.input_names}


def load_tokenizer(bundle_root: Path, spec: TextSpec) -> TextEncoder:
    """Load ``spec.tokenizer_file`` from the bundle and configure it as the spec says."""
    tokenizers = _import_tokenizers()
    path = Path(bundle_root) / spec.tokenizer_file
    if not path.is_file():
        raise BundleFormatError(f"{bundle_root}: the tokenizer {spec.tokenizer_file} is missing")
    try:
        tokenizer = tokenizers.Tokenizer.from_file(str(path))
    except Exception as exc:
        raise BundleFormatError(f"{spec.tokenizer_file} is not a tokenizers JSON file: {exc}") from None
    size = int(tokenizer.get_vocab_size(with_added_tokens=True))
    if size > spec.vocab_size:
        raise BundleFormatError(
            f"{spec.tokenizer_file} has {size} tokens but the manifest's vocab_size is {spec.vocab_size}: "
            "the tokenizer can produce ids the model has no embedding for; repackage the model"
        )
    return TextEncoder(tokenizer, spec)
