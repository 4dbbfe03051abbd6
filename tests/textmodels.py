"""Tiny text models for tests, built from configs with random weights (nothing is downloaded).

``wordpiece_tokenizer()`` is a real BERT-style WordPiece tokenizer (``tokenizers`` library) over a small
vocabulary that can spell any lowercase ASCII text (whole words where it knows them, ``##`` letters
otherwise). The ``save_*`` helpers write what ``save_pretrained`` and sentence-transformers write.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS: tuple[str, ...] = tuple(
    " ".join(
        (
            "the a an and or of to in on at for with is are was be it this that these those as by from not",
            "no cat cats dog dogs sat mat bird fish tree house car road city river sea sun moon star night",
            "day weather rain snow cold hot warm good bad great terrible love hate like happy sad movie film",
            "book music song play game team win lose money bank price market stock paris london berlin john",
            "mary alice bob company apple google python code model data text search query answer question",
            "machine learning fast slow small big new old",
        )
    ).split()
)


def vocabulary() -> list[str]:
    """Special tokens, known words, single characters and their ``##`` continuations."""
    chars = list(string.ascii_lowercase + string.digits + ".,!?'-:;()")
    tokens = [*SPECIAL_TOKENS, *WORDS, *chars] + [f"##{c}" for c in string.ascii_lowercase + string.digits]
    return list(dict.fromkeys(tokens))


def wordpiece_tokenizer(max_length: int | None = None) -> Any:
    """A BERT-style ``tokenizers.Tokenizer``: lowercasing normalizer, WordPiece, ``[CLS] $A [SEP]``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = {token: index for index, token in enumerate(vocabulary())}
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, clean_text=True, handle_chinese_chars=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    if max_length is not None:
        tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


def save_tokenizer_json(directory: Path) -> Path:
    """Write ``tokenizer.json`` (the tokenizers format) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tokenizer.json"
    wordpiece_tokenizer().save(str(path))
    return path
