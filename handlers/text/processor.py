"""The processor of text bundles: texts or token ids -> feed, outputs -> per-text answers.

Tokenization is the bundle package's (:mod:`bundle.processing.text`: the Rust ``tokenizers`` library
with the bundle's own ``tokenizer.json``, the same code the packager's parity gate ran), so a served
text is encoded exactly as at packaging time. The tokenizer is loaded once, when the processor is
created; nothing is encoded until a request (or the warm-up) asks. Token ids (OpenAI's ``input`` as
ids, an ``input_ids`` tensor sent alone as JSON lists or an OIP ``INT64``/``INT32`` tensor) are taken
as complete model inputs, special tokens included, as Hugging Face text-embeddings-inference does:
they are only checked against the vocabulary and the maximum length, then padded.

What it reads from the neutral :class:`~handlers.vocabulary.Inputs`: ``named["text"]``; one string
(``BYTES``) tensor by any name; ``named`` holding ``input_ids`` alone (token ids); ``raw``/``rows`` of
texts, UTF-8 bytes or ``{"text": ...}``; ``tokens``; otherwise the model's tensors by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from bundle import Bundle, BundleError, EmbeddingSpec, Manifest
from bundle.errors import InputError
from bundle.processing.text import EncodedBatch, load_tokenizer
from handlers.errors import InvalidInputError
from handlers.tabular import score_labels_of, tensors_of
from handlers.text.answers import Entity, LabelScore, aggregate_entities, top_k_labels, truncate_embeddings
from handlers.text.inputs import MAX_TEXTS, decode_text_array, is_textual, texts_of, top_k_from
from handlers.validation import coerce_feed
from handlers.vocabulary import Answers, ExampleFeed, Feed, Inputs, Outputs, Style

__all__ = ["TRUNCATABLE_KEY", "TextFeed", "TextProcessor"]

#: Metadata key that bundles packaged before ``embedding.truncatable`` existed used for the same
#: declaration (``--metadata embedding_truncatable=true``); still honoured.
TRUNCATABLE_KEY = "embedding_truncatable"


class TextFeed(ExampleFeed):
    """The onnxruntime feed of a batch of texts, carrying what the tokenizer recorded about it."""

    def __init__(self, encoded: EncodedBatch, texts: Sequence[str], single: bool = False) -> None:
        super().__init__(encoded.feed, raw=bool(texts), single=single)
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
        self.bodies = frozenset({"text"})
        self.score_labels = score_labels_of(manifest)
        if self.task == "text-classification" and self.labels:
            self.score_labels = {"scores": self.labels, **self.score_labels}
        self.embedder: TextEmbedder | None = TextEmbedder(self) if manifest.embedding is not None else None

    # -- preprocessing -------------------------------------------------------------------------
    def preprocess(self, inputs: Inputs) -> Feed:
        """Texts are tokenized; token ids are checked and padded; the model's own tensors are validated."""
        top_k_from(inputs.options)  # a bad top_k is refused before inference
        if inputs.tokens is not None:
            return self.token_arrays(inputs.tokens)
        if inputs.named:
            return self._named(inputs)
        for value in (inputs.raw, inputs.rows):
            if value is not None and (is_textual(value) or (isinstance(value, list) and not value)):
                texts, single = texts_of(value, inputs.where)
                return self.encode(texts, single)
        return self._tensors(inputs)

    def _named(self, inputs: Inputs) -> Feed:
        named = dict(inputs.named)
        strings = [name for name, value in named.items() if isinstance(value, np.ndarray) and value.dtype == object]
        if strings:
            if len(named) != 1:
                raise InvalidInputError(f"send the texts as one BYTES input (got {', '.join(named)})")
            return self.encode(decode_text_array(named[strings[0]], f"input {strings[0]!r}"))
        if "text" in named:
            if len(named) > 1:
                others = ", ".join(sorted(set(named) - {"text"}))
                raise InvalidInputError(
                    f'send either "text" or the model\'s tensors in {inputs.where}, not both (also got {others})'
                )
            return self.encode(*texts_of(named["text"], inputs.at("text")))
        if set(named) == {"input_ids"} and self._token_like(named["input_ids"]):
            return self.token_arrays(named["input_ids"])
        return self._tensors(inputs)

    @staticmethod
    def _token_like(value: Any) -> bool:
        """Token id sequences: a list (of lists) or an integer array of two axes."""
        if isinstance(value, np.ndarray):
            return value.ndim == 2 and value.dtype.kind in "iu"
        return isinstance(value, list)

    def _tensors(self, inputs: Inputs) -> Feed:
        tensors, _ = tensors_of(self.manifest, inputs)
        feed = coerce_feed(self.manifest, tensors)
        ids = feed.get("input_ids")
        if ids is not None:
            self._check_ids(ids, "input_ids")
            if ids.ndim == 2 and ids.shape[1] > self.spec.max_length:
                raise InvalidInputError(self._too_long("input_ids", ids.shape[1]))
        return feed

    def encode(self, texts: list[str], single: bool = False) -> TextFeed:
        """The feed for ``texts`` (padded to the longest, truncated to the model's maximum length)."""
        try:
            encoded = self.encoder.encode(texts)
        except InputError as exc:  # the encoder names the limit that was broken
            raise InvalidInputError(str(exc)) from None
        return TextFeed(encoded, texts, single)

    def token_arrays(self, arrays: Any) -> TextFeed:
        """A feed from token id arrays (one list of ids per input), each within the vocabulary and length."""
        if isinstance(arrays, np.ndarray) and arrays.ndim == 2:
            arrays = list(arrays)
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

    def answer(self, inputs: Inputs, feed: Feed, outputs: Outputs, style: Style) -> Answers:
        """Per text (when texts were sent): its embedding, top-k labels or entities, in ``style``'s shape."""
        texts = isinstance(feed, TextFeed) and feed.raw
        predictions: Any = None
        extra: Outputs = {}
        if style == "tensors":
            if texts and self.task == "token-classification":
                extra = {"entities": np.asarray(self.entity_documents(feed, outputs), dtype=object)}
        elif texts:
            predictions = self._styled(feed, outputs, style, inputs.options)
        return Answers(outputs=outputs, predictions=predictions, task=self.task, extra=extra)

    def _styled(self, feed: Feed, outputs: Outputs, style: Style, options: Any) -> Any:
        top_k = top_k_from(options)
        given = isinstance(options, dict) and "top_k" in options
        single = getattr(feed, "single", False)
        if style == "predictions":
            return self.predictions(feed, outputs, top_k)
        if style == "handler":  # TorchServe: every label unless asked, {label: score}
            predictions = self.predictions(feed, outputs, top_k if given else None)
            if self.task == "text-classification":
                predictions = [{item["label"]: item["score"] for item in ranked} for ranked in predictions]
            return predictions[0] if single else predictions
        predictions = self.predictions(feed, outputs, top_k)  # the Hugging Face pipelines' shapes
        if self.task == "text-classification" and not given:
            return [ranked[0] for ranked in predictions]  # one {"label", "score"} per text
        if single and self.task != "feature-extraction":
            return predictions[0]
        return predictions

    def entity_documents(self, feed: Feed, outputs: Outputs) -> list[bytes]:
        """Per text, its entities as a JSON document (the elements of an OIP ``BYTES`` output)."""
        return [orjson.dumps(entities) for entities in self.entities(feed, outputs)]

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


class TextEmbedder:
    """An embedding model's answers to OpenAI-style requests (see :class:`~handlers.vocabulary.Embedder`)."""

    def __init__(self, processor: TextProcessor) -> None:
        self.processor = processor

    def check(self, dimensions: int | None) -> None:
        """InvalidInputError (before inference) when ``dimensions`` cannot be answered."""
        self.processor.check_dimensions(dimensions)

    def vectors(self, feed: Feed, outputs: Outputs, dimensions: int | None) -> np.ndarray:
        """The [texts, dimensions] float32 sentence embeddings."""
        return self.processor.embeddings(outputs, dimensions)

    def token_count(self, feed: Feed) -> int:
        """Tokens the model read (special tokens included)."""
        return sum(feed.token_counts) if isinstance(feed, TextFeed) else 0
