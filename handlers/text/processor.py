"""The processor of text bundles: raw texts (or token ids) -> feed, outputs -> per-text answers.

Tokenization is the bundle package's (:mod:`bundle.processing.text`: the Rust ``tokenizers`` library
with the bundle's own ``tokenizer.json``, the same code the packager's parity gate ran), so a served
text is encoded exactly as at packaging time. Token arrays (the OpenAI API's ``input`` as ids) are
taken as complete model inputs, special tokens included, as Hugging Face text-embeddings-inference
does: they are only checked against the vocabulary and the maximum length, then padded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bundle import Bundle, BundleError, EmbeddingSpec, Manifest
from bundle.errors import InputError
from bundle.processing.text import EncodedBatch, load_tokenizer
from handlers.errors import InvalidInputError
from handlers.processing import Feed, Inputs, Outputs
from handlers.text.answers import Entity, LabelScore, aggregate_entities, top_k_labels, truncate_embeddings
from handlers.text.inputs import MAX_TEXTS, decode_text_array
from handlers.validation import coerce_feed

__all__ = ["TRUNCATABLE_KEY", "TextFeed", "TextProcessor", "text_processor_of"]

#: Metadata key that bundles packaged before ``embedding.truncatable`` existed used for the same
#: declaration (``--metadata embedding_truncatable=true``); still honoured.
TRUNCATABLE_KEY = "embedding_truncatable"


class TextFeed(dict[str, np.ndarray]):
    """The onnxruntime feed of a batch of texts, carrying what the tokenizer recorded about it."""

    def __init__(self, encoded: EncodedBatch, texts: Sequence[str]) -> None:
        super().__init__(encoded.feed)
        self.encoded = encoded
        self.texts = list(texts)
        """The texts (empty for token-array input)."""

    @property
    def token_counts(self) -> list[int]:
        """Real tokens per text, special tokens included."""
        return self.encoded.token_counts


class TextProcessor:
    """Tokenizes with the bundle's tokenizer; answers embeddings, top-k labels or entities by task."""

    def __init__(self, bundle: Bundle) -> None:
        manifest = bundle.manifest
        if manifest.text is None:
            raise BundleError(f"{bundle.root}: task {manifest.task} needs the manifest's text section")
        self.manifest: Manifest = manifest
        self.task = str(manifest.task)
        self.spec = manifest.text
        self.encoder = load_tokenizer(bundle.root, manifest.text)
        self.labels = [str(label) for label in manifest.labels or []]
        self.embedding = manifest.embedding
        legacy = manifest.metadata.get(TRUNCATABLE_KEY, "").lower() == "true"
        self.truncatable = legacy or bool(manifest.embedding and manifest.embedding.truncatable)

    # -- preprocessing -------------------------------------------------------------------------
    def preprocess(self, inputs: Inputs) -> Feed:
        """Texts are tokenized; ``{"input_ids": [[...], ...]}`` token arrays are checked and padded."""
        if inputs.raw is not None:
            texts = decode_text_array(np.asarray(list(inputs.raw), dtype=object), "the request's text")
            return self.encode(texts)
        tensors = dict(inputs.tensors)
        if set(tensors) == {"input_ids"} and isinstance(tensors["input_ids"], list):
            return self.token_arrays(tensors["input_ids"])
        feed = coerce_feed(self.manifest, tensors)
        ids = feed.get("input_ids")
        if ids is not None:
            self._check_ids(ids, "input_ids")
            if ids.ndim == 2 and ids.shape[1] > self.spec.max_length:
                raise InvalidInputError(self._too_long("input_ids", ids.shape[1]))
        return feed

    def encode(self, texts: list[str]) -> TextFeed:
        """The feed for ``texts`` (padded to the longest, truncated to the model's maximum length)."""
        try:
            encoded = self.encoder.encode(texts)
        except InputError as exc:  # the encoder names the limit that was broken
            raise InvalidInputError(str(exc)) from None
        return TextFeed(encoded, texts)

    def token_arrays(self, arrays: Any) -> TextFeed:
        """A feed from token id arrays (one list of ids per input), each within the vocabulary and length."""
        if not isinstance(arrays, list) or not arrays:
            raise InvalidInputError("token input must be a non-empty list of token id lists")
        if len(arrays) > MAX_TEXTS:
            raise InvalidInputError(f"{len(arrays)} token arrays, over the limit of {MAX_TEXTS} per request; split it")
        try:
            return TextFeed(self.encoder.encode_ids(arrays), ())
        except InputError as exc:
            raise InvalidInputError(str(exc)) from None

    def _check_ids(self, ids: np.ndarray, where: str) -> None:
        vocabulary = self.spec.vocab_size
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= vocabulary):
            bad = int(ids.min()) if int(ids.min()) < 0 else int(ids.max())
            raise InvalidInputError(
                f"{where} holds id {bad}; ids must be >= 0 and < vocab_size {vocabulary} (this model's vocabulary)"
            )

    def _too_long(self, where: str, length: int) -> str:
        return f"{where} has {length} tokens; this model takes at most max_length {self.spec.max_length}"

    def postprocess(self, feed: Feed, outputs: Outputs) -> Outputs:
        """The outputs unchanged: pooling and normalisation are inside the graph."""
        return outputs

    # -- answers -------------------------------------------------------------------------------
    def embeddings(self, outputs: Outputs, dimensions: int | None = None) -> np.ndarray:
        """The [texts, dimensions] float32 sentence embeddings (truncated and re-normalised on request)."""
        spec = self._embedding_spec()
        vectors = np.asarray(outputs[spec.output], dtype=np.float32)
        return truncate_embeddings(
            vectors, dimensions, full=spec.dimensions, normalized=spec.normalized, allowed=self.truncatable
        )

    def classifications(self, outputs: Outputs, top_k: int | None) -> list[list[LabelScore]]:
        """Per text the ``top_k`` best ``{"label", "score"}`` (every label when None)."""
        return top_k_labels(np.asarray(outputs["scores"]), self.labels, top_k)

    def entities(self, feed: Feed, outputs: Outputs) -> list[list[Entity]]:
        """Per text its entities with character offsets (needs the feed of raw texts)."""
        if not isinstance(feed, TextFeed) or not feed.texts:
            raise InvalidInputError("entities need raw texts (character offsets come from the tokenizer); send text")
        scores = np.asarray(outputs["scores"])
        encoded = feed.encoded
        return [
            aggregate_entities(text, scores[index], encoded.offsets[index], encoded.word_ids[index], self.labels)
            for index, text in enumerate(feed.texts)
        ]

    def predictions(self, feed: Feed, outputs: Outputs, top_k: int | None = 1) -> list[Any]:
        """One answer per text: its embedding, its top-k labels, or its entities (by the model's task)."""
        if self.task == "feature-extraction":
            return list(self.embeddings(outputs))
        if self.task == "text-classification":
            return list(self.classifications(outputs, top_k))
        return list(self.entities(feed, outputs))

    def check_dimensions(self, dimensions: int | None) -> None:
        """Raise InvalidInputError (before inference) when ``dimensions`` cannot be answered."""
        spec = self._embedding_spec()
        self.embeddings({spec.output: np.zeros((0, spec.dimensions), dtype=np.float32)}, dimensions)

    def _embedding_spec(self) -> EmbeddingSpec:
        if self.embedding is None:
            raise InvalidInputError(
                f"model {self.manifest.name} is a {self.task} model, not an embedding model; "
                "embeddings come from feature-extraction bundles"
            )
        return self.embedding


def text_processor_of(runtime: Any) -> TextProcessor | None:
    """The runtime's processor when it is a text model's, else None."""
    processor = getattr(runtime, "processor", None)
    return processor if isinstance(processor, TextProcessor) else None
