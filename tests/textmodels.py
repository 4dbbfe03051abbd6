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


def wordpiece_tokenizer(max_length: int | None = None, vocab_size: int | None = None) -> Any:
    """A BERT-style ``tokenizers.Tokenizer``: lowercasing normalizer, WordPiece, ``[CLS] $A [SEP]``.

    ``vocab_size`` pads the vocabulary with ``[unusedN]`` entries (as BERT's has) to that size.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokens = vocabulary()
    tokens += [f"[unused{index}]" for index in range(max(0, (vocab_size or 0) - len(tokens)))]
    vocab = {token: index for index, token in enumerate(tokens)}
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


#: Labels of the tiny classifiers.
SENTIMENT_LABELS = {0: "negative", 1: "positive", 2: "neutral"}
ENTITY_LABELS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}


def tiny_bert_config(**overrides: Any) -> Any:
    """BertConfig: hidden 32, 2 layers, 2 heads, 64 positions, the test vocabulary."""
    from transformers import BertConfig

    settings: dict[str, Any] = {
        "vocab_size": len(vocabulary()),
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 37,
        "max_position_embeddings": 64,
    }
    settings.update(overrides)
    return BertConfig(**settings)


def hf_tokenizer(model_max_length: int = 64) -> Any:
    """A transformers BertTokenizerFast over ``wordpiece_tokenizer()``."""
    from transformers import BertTokenizerFast  # type: ignore[attr-defined]  # lazy alias in transformers 5

    return BertTokenizerFast(tokenizer_object=wordpiece_tokenizer(), model_max_length=model_max_length)


def save_hf_folder(directory: Path, head: str = "base", *, multi_label: bool = False, seed: int = 0) -> Path:
    """``save_pretrained`` of a tiny BERT (head ``base``, ``sequence`` or ``token``) and its tokenizer."""
    import torch
    from transformers import BertForSequenceClassification, BertForTokenClassification, BertModel

    torch.manual_seed(seed)
    model: Any
    if head == "base":
        model = BertModel(tiny_bert_config())
    elif head == "sequence":
        labels = SENTIMENT_LABELS
        problem = "multi_label_classification" if multi_label else "single_label_classification"
        config = tiny_bert_config(id2label=labels, label2id={v: k for k, v in labels.items()}, problem_type=problem)
        model = BertForSequenceClassification(config)
    elif head == "token":
        labels = ENTITY_LABELS
        model = BertForTokenClassification(
            tiny_bert_config(id2label=labels, label2id={v: k for k, v in labels.items()})
        )
    else:
        raise ValueError(f"unknown head {head!r}")
    model.eval().save_pretrained(directory)
    hf_tokenizer().save_pretrained(directory)
    return directory


def save_sentence_transformer(directory: Path, pooling: str = "mean", *, normalize: bool = True) -> Path:
    """What ``SentenceTransformer.save`` writes for Transformer + Pooling (+ Normalize) over a tiny BERT."""
    from sentence_transformers import SentenceTransformer, models  # type: ignore[attr-defined]

    base = save_hf_folder(directory.parent / f"{directory.name}-base")
    transformer = models.Transformer(str(base), max_seq_length=32)
    modules: list[Any] = [transformer, models.Pooling(transformer.get_embedding_dimension(), pooling_mode=pooling)]
    if normalize:
        modules.append(models.Normalize())
    SentenceTransformer(modules=modules, device="cpu").save(str(directory))
    return directory
