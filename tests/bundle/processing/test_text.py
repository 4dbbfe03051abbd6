"""The text encoder every text path shares: truncation, padding, masks, offsets and the limits it enforces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tokenizers")

from bundle import InputError
from bundle.errors import BundleFormatError
from bundle.manifest import TextSpec
from bundle.processing.text import TextEncoder, load_tokenizer
from bundle.reader import file_sha256
from tests.textmodels import save_tokenizer_json, vocabulary

VOCAB = {token: index for index, token in enumerate(vocabulary())}


def _spec(path: Path, max_length: int = 16, names: tuple[str, ...] = ("input_ids", "attention_mask")) -> TextSpec:
    return TextSpec(
        tokenizer_sha256=file_sha256(path),
        max_length=max_length,
        vocab_size=len(VOCAB),
        pad_token_id=VOCAB["[PAD]"],
        input_names=list(names),  # type: ignore[arg-type]
    )


@pytest.fixture
def tokenizer_path(tmp_path: Path) -> Path:
    return save_tokenizer_json(tmp_path)


def _encoder(path: Path, **kwargs: object) -> TextEncoder:
    return load_tokenizer(path.parent, _spec(path, **kwargs))  # type: ignore[arg-type]


def test_pads_to_the_longest_text_with_a_mask_and_special_tokens(tokenizer_path: Path) -> None:
    batch = _encoder(tokenizer_path).encode(["the cat sat", "dog"])
    ids, mask = batch.feed["input_ids"], batch.feed["attention_mask"]
    assert list(batch.feed) == ["input_ids", "attention_mask"]
    assert ids.dtype == np.int64 and ids.shape == (2, 5)
    assert ids[0].tolist() == [VOCAB[t] for t in ("[CLS]", "the", "cat", "sat", "[SEP]")]
    assert ids[1].tolist() == [VOCAB["[CLS]"], VOCAB["dog"], VOCAB["[SEP]"], VOCAB["[PAD]"], VOCAB["[PAD]"]]
    assert mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert batch.token_counts == [5, 3]
    assert batch.truncated == [False, False]


def test_offsets_word_ids_and_tokens_cover_real_tokens_only(tokenizer_path: Path) -> None:
    text = "Paris cats"
    batch = _encoder(tokenizer_path).encode([text, "a"])
    assert batch.tokens[0] == ["[CLS]", "paris", "cats", "[SEP]"]
    assert batch.word_ids[0] == [None, 0, 1, None]
    assert [text[s:e] for s, e in batch.offsets[0][1:-1]] == ["Paris", "cats"]
    assert batch.offsets[0][0] == (0, 0)
    assert len(batch.tokens[1]) == batch.token_counts[1] == 3


def test_word_pieces_share_a_word_id(tokenizer_path: Path) -> None:
    batch = _encoder(tokenizer_path).encode(["zebra"])
    assert batch.tokens[0][1:-1] == ["z", "##e", "##b", "##r", "##a"]
    assert batch.word_ids[0][1:-1] == [0, 0, 0, 0, 0]


def test_long_texts_are_truncated_to_max_length_with_the_closing_token(tokenizer_path: Path) -> None:
    batch = _encoder(tokenizer_path, max_length=8).encode(["the cat " * 50, "dog"])
    assert batch.feed["input_ids"].shape == (2, 8)
    assert batch.feed["input_ids"][0, -1] == VOCAB["[SEP]"]
    assert batch.truncated == [True, False]
    assert batch.token_counts == [8, 3]


def test_token_type_ids_only_when_the_model_takes_them(tokenizer_path: Path) -> None:
    names = ("input_ids", "attention_mask", "token_type_ids")
    batch = _encoder(tokenizer_path, names=names).encode(["the cat", "a dog sat"])
    assert list(batch.feed) == list(names)
    assert batch.feed["token_type_ids"].tolist() == [[0] * 5, [0] * 5]


def test_token_arrays_are_padded_and_checked_against_vocab_size(tokenizer_path: Path) -> None:
    encoder = _encoder(tokenizer_path)
    batch = encoder.encode_ids([[2, 5, 3], [2, 3]])
    assert batch.feed["input_ids"].tolist() == [[2, 5, 3], [2, 3, 0]]
    assert batch.feed["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch.token_counts == [3, 2]
    with pytest.raises(InputError, match=rf"token array 1, position 1: id {len(VOCAB)} .*vocab_size {len(VOCAB)}"):
        encoder.encode_ids([[2, 3], [2, len(VOCAB)]])
    with pytest.raises(InputError, match="id -1 is out of range"):
        encoder.encode_ids([[-1]])
    with pytest.raises(InputError, match="17 tokens; the model takes at most max_length 16"):
        encoder.encode_ids([[5] * 17])
    with pytest.raises(InputError, match="not an integer"):
        encoder.encode_ids([[2, 1.5]])  # type: ignore[list-item]


@pytest.mark.parametrize("texts", [[], [None], [3]])
def test_bad_text_batches_are_input_errors(tokenizer_path: Path, texts: list[object]) -> None:
    with pytest.raises(InputError, match="no texts|not a string"):
        _encoder(tokenizer_path).encode(texts)  # type: ignore[arg-type]


def test_missing_or_broken_tokenizer_is_a_format_error(tokenizer_path: Path, tmp_path: Path) -> None:
    spec = _spec(tokenizer_path)
    with pytest.raises(BundleFormatError, match="tokenizer.json is missing"):
        load_tokenizer(tmp_path / "elsewhere", spec)
    tokenizer_path.write_text("{not json")
    with pytest.raises(BundleFormatError, match="not a tokenizers JSON file"):
        load_tokenizer(tokenizer_path.parent, spec)


def test_a_tokenizer_larger_than_the_vocabulary_is_refused(tokenizer_path: Path) -> None:
    spec = _spec(tokenizer_path).model_copy(update={"vocab_size": 10})
    with pytest.raises(BundleFormatError, match="vocab_size is 10"):
        load_tokenizer(tokenizer_path.parent, spec)


def test_the_text_processing_imports_no_framework_and_tokenizers_only_when_used() -> None:
    import subprocess
    import sys

    heavy = ("torch", "transformers", "tokenizers", "model_packager", "handlers")
    code = f"import sys, bundle.processing.text, bundle.parity_text; print(sorted(set({heavy!r}) & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
