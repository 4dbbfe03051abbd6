"""Model folders as ``save_pretrained`` / sentence-transformers write them, built from configs (random weights).

Nothing is downloaded: the WordPiece tokenizer is trained here with the ``tokenizers`` library on a small
corpus (BERT normalisation, pre-tokenization and ``[CLS] ... [SEP]`` template), and the transformers are
made from a ``BertConfig``. The benchmark uses :func:`embedding_folder` with all-MiniLM-L6-v2's shape
when the real model is not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["CORPUS", "MINILM_SHAPE", "TINY_SHAPE", "classifier_folder", "embedding_folder", "token_classifier_folder"]

CORPUS = [
    "John Smith lives in New York and works for the United Nations.",
    "Maria visited Paris, Berlin and Rome last summer with her friends.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Serving transformers on Lambda needs a small package and a fast cold start.",
    "Embeddings map sentences to vectors; similar sentences land close together.",
    "I loved this film, the acting was wonderful and the music unforgettable!",
    "This was the worst meal I have ever had: cold, bland and far too expensive.",
    "Angela Merkel met Emmanuel Macron in Strasbourg on Tuesday morning.",
    "Unbelievably, the tokenizer splits rare words into several word pieces.",
    "Caf\u00e9 cr\u00e8me and na\u00efve r\u00e9sum\u00e9s test the accent stripping of the normaliser.",
]

#: BERT shape of a tiny test model (fast to export and run).
TINY_SHAPE: dict[str, int] = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 128,
}
#: The shape of sentence-transformers/all-MiniLM-L6-v2.
MINILM_SHAPE: dict[str, int] = {
    "hidden_size": 384,
    "num_hidden_layers": 6,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
    "max_position_embeddings": 512,
}


def _tokenizer(vocab_size: int, max_length: int) -> Any:
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers
    from tokenizers.models import WordPiece
    from transformers import BertTokenizerFast  # type: ignore[attr-defined]

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=None, clean_text=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, min_frequency=1)
    tokenizer.train_from_iterator(CORPUS * 3, trainer=trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return BertTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )


def _config(shape: dict[str, Any], vocab_size: int, **extra: Any) -> Any:
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, pad_token_id=0, **shape, **extra)


def _seeded() -> None:
    import torch

    torch.manual_seed(0)


def embedding_folder(
    out: Path, shape: dict[str, int] | None = None, *, vocab_size: int = 400, pooling: str = "mean"
) -> Path:
    """A sentence-transformers folder: BERT, ``pooling`` (mean or cls) and L2 normalisation."""
    from sentence_transformers import SentenceTransformer, models  # type: ignore[attr-defined]
    from transformers import BertModel

    _seeded()
    shape = shape or TINY_SHAPE
    tokenizer = _tokenizer(vocab_size, shape["max_position_embeddings"])
    base = out.with_name(out.name + "-base")
    model: Any = BertModel(_config(shape, len(tokenizer)))
    model.eval().save_pretrained(base)
    tokenizer.save_pretrained(base)
    transformer = models.Transformer(str(base), max_seq_length=shape["max_position_embeddings"])
    pool = models.Pooling(shape["hidden_size"], pooling_mode=pooling)
    SentenceTransformer(modules=[transformer, pool, models.Normalize()], device="cpu").save(str(out))
    return out


def classifier_folder(out: Path, labels: list[str], *, vocab_size: int = 400) -> Path:
    """A ``save_pretrained`` text classifier (BertForSequenceClassification) with ``id2label``."""
    from transformers import BertForSequenceClassification

    _seeded()
    tokenizer = _tokenizer(vocab_size, TINY_SHAPE["max_position_embeddings"])
    config = _config(
        TINY_SHAPE, len(tokenizer), id2label=dict(enumerate(labels)), label2id={k: i for i, k in enumerate(labels)}
    )
    model: Any = BertForSequenceClassification(config)
    model.eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def token_classifier_folder(out: Path, labels: list[str], *, vocab_size: int = 400) -> Path:
    """A ``save_pretrained`` token classifier (BertForTokenClassification) with BIO ``id2label``."""
    from transformers import BertForTokenClassification

    _seeded()
    tokenizer = _tokenizer(vocab_size, TINY_SHAPE["max_position_embeddings"])
    config = _config(
        TINY_SHAPE, len(tokenizer), id2label=dict(enumerate(labels)), label2id={k: i for i, k in enumerate(labels)}
    )
    model: Any = BertForTokenClassification(config)
    model.eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
