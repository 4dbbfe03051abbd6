"""Text bundles for the serving tests, packaged with ``model_packager.package()`` as users make them.

The folders are the tiny ones of :mod:`tests.handlers.text.folders` (random weights, a WordPiece tokenizer
trained on the spot); the samples are the corpus texts, checked by the packager's raw-text parity gate.
The embedder declares truncatable embeddings (``package(truncatable_embeddings=True)``) for ``dimensions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.handlers.text.folders import CORPUS, classifier_folder, embedding_folder, token_classifier_folder

SENTIMENT = ["negative", "positive", "neutral"]
NER = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


@dataclass(frozen=True)
class TextBundles:
    """Bundle directories and the folders they were made from."""

    embedder: Path
    sentiment: Path
    ner: Path
    folders: dict[str, Path]

    @property
    def all(self) -> list[Path]:
        return [self.embedder, self.sentiment, self.ner]


def build_text_bundles(out: Path) -> TextBundles:
    """An embedder (mean pooling, normalised, truncatable), a 3-label text classifier and a BIO token classifier."""
    from model_packager import package

    folders = {
        "embedder": embedding_folder(out / "folders" / "embedder"),
        "sentiment": classifier_folder(out / "folders" / "sentiment", SENTIMENT),
        "ner": token_classifier_folder(out / "folders" / "ner", NER),
    }
    tasks = {"embedder": "feature-extraction", "sentiment": "text-classification", "ner": "token-classification"}
    truncatable = {"embedder": True}
    made = {
        name: Path(
            package(
                folder, name=name, version="1.0.0", task=tasks[name], sample=list(CORPUS), out=out / "bundles",
                truncatable_embeddings=truncatable.get(name, False),
            ).directory
        )
        for name, folder in folders.items()
    }  # fmt: skip
    return TextBundles(made["embedder"], made["sentiment"], made["ner"], folders)
