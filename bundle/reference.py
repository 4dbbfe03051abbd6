"""Reference statistics of a bundle's inputs, and the drift measures that compare traffic with them.

Computed deterministically from the sample the packager was given, and stored in the bundle as
``reference.json`` (listed with its sha256 in the manifest, so it is archived and verified like every
file) for the families that have them (:func:`has_reference`: tensor and text models). A drift check
reads them with :func:`load_reference`, which recomputes them from ``samples.npz`` for older bundles:

- tabular inputs: per feature (a 1-D input, or each column ``X[i]`` of a 2-D one) quantile bins with
  their proportions (for the population stability index) and the missing (NaN) rate;
- text inputs: the length distribution (words per text, binned like a feature), the out-of-vocabulary
  rate against the tokenizer's vocabulary, and the centroid of the sample embeddings (embedding models).

Also the names the runtime (capture writer, metering) and ``infra`` (constructs, ``maaskit usage`` and
``drift``) share, since ``handlers`` and ``infra`` may only meet in ``bundle``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bundle import names
from bundle.errors import BundleError, BundleFormatError, BundleIntegrityError
from bundle.manifest import TEXT_TASKS, Manifest
from bundle.reader import Bundle, open_bundle

__all__ = [
    "CAPTURE_BUCKET_ENV",
    "CAPTURE_KMS_KEY_ENV",
    "CAPTURE_PREFIX_ENV",
    "CAPTURE_REDACT_ENV",
    "CAPTURE_SAMPLE_ENV",
    "DRIFT_METRIC",
    "METERING_DIMENSIONS",
    "METERING_METRICS",
    "REFERENCE_FILE",
    "TENSOR_TASKS",
    "FeatureReference",
    "Reference",
    "TextReference",
    "centroid_distance",
    "feature_columns",
    "feature_reference",
    "has_reference",
    "load_reference",
    "oov_rate",
    "psi",
    "reference_file",
    "reference_from_bundle",
    "reference_of",
    "text_reference",
    "tokenizer_vocabulary",
    "words",
]

# --- names shared by the runtime and infra -------------------------------------------------------------
CAPTURE_BUCKET_ENV = names.CAPTURE_BUCKET
CAPTURE_PREFIX_ENV = names.CAPTURE_PREFIX
CAPTURE_KMS_KEY_ENV = names.CAPTURE_KMS_KEY
CAPTURE_SAMPLE_ENV = names.CAPTURE_SAMPLE
CAPTURE_REDACT_ENV = names.CAPTURE_REDACT
#: Metering metrics (EMF, namespace = the service name, ``maaskit``) and their dimension set; ``stage`` is
#: API Gateway's stage of the request (``local`` outside API Gateway).
METERING_DIMENSIONS = ("stage", "consumer", "model")
METERING_METRICS = ("Requests", "PromptTokens", "CompletionTokens", "AudioSeconds")
#: Published by ``maaskit drift``: the largest PSI of a model's features, dimension ``model``.
DRIFT_METRIC = "DriftPSI"
#: The bundle file that holds the reference statistics recorded at packaging.
REFERENCE_FILE = "reference.json"
#: Tasks of tensor models (tabular references); text tasks (:data:`bundle.manifest.TEXT_TASKS`) get text ones.
TENSOR_TASKS: frozenset[str] = frozenset({"classifier", "regressor", "other"})

_EPSILON = 1e-4
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class FeatureReference:
    """One numeric feature: inner bin edges, the share of reference values per bin, the NaN rate."""

    name: str
    edges: list[float]
    proportions: list[float]
    missing_rate: float
    count: int


@dataclass(frozen=True)
class TextReference:
    """One text input: the words-per-text distribution, OOV rate and (embedding models) centroid."""

    name: str
    length: FeatureReference
    oov_rate: float
    centroid: list[float] | None = None


@dataclass(frozen=True)
class Reference:
    """A bundle's reference statistics (``kind``: ``tabular`` or ``text``)."""

    model: str
    version: str
    kind: str
    features: list[FeatureReference] = field(default_factory=list)
    texts: list[TextReference] = field(default_factory=list)

    def to_json(self) -> str:
        """A stable JSON document (sorted keys), as the packager would store it."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Reference:
        """Read :meth:`to_json` back."""
        data = json.loads(text)
        texts = [
            TextReference(t["name"], FeatureReference(**t["length"]), t["oov_rate"], t.get("centroid"))
            for t in data.get("texts", [])
        ]
        features = [FeatureReference(**f) for f in data.get("features", [])]
        return cls(data["model"], data["version"], data["kind"], features, texts)


def feature_reference(name: str, values: np.ndarray, bins: int = 10) -> FeatureReference:
    """Quantile bins of ``values`` (at most ``bins``; one per ten values, at least two) and their NaN rate."""
    values = np.asarray(values, dtype=np.float64).ravel()
    present = values[~np.isnan(values)]
    missing = float(1 - present.size / values.size) if values.size else 0.0
    if present.size == 0:
        return FeatureReference(name, [], [1.0], missing, int(values.size))
    # PSI between two samples is biased upward by about (bins - 1) * (1/n_reference + 1/n_current): keep
    # at least ten reference values per bin, so few samples give few (coarse) bins rather than noise.
    count = min(bins, max(2, present.size // 10)) if present.size >= 4 else 1
    quantiles = np.quantile(present, np.linspace(0, 1, count + 1)[1:-1]) if count > 1 else np.array([])
    edges = sorted({float(q) for q in quantiles})
    proportions = _proportions(edges, present)
    return FeatureReference(name, edges, proportions, missing, int(values.size))


def _proportions(edges: Sequence[float], values: np.ndarray) -> list[float]:
    counts = np.bincount(np.searchsorted(np.asarray(edges), values, side="right"), minlength=len(edges) + 1)
    total = max(int(counts.sum()), 1)
    return [float(c) / total for c in counts]


def psi(reference: FeatureReference, values: Iterable[float]) -> float:
    """Population stability index of ``values`` (NaN ignored) against the reference bins (0: the same)."""
    array = np.asarray(list(values), dtype=np.float64)
    array = array[~np.isnan(array)]
    if array.size == 0:
        return 0.0
    actual = _proportions(reference.edges, array)
    total = 0.0
    for expected, seen in zip(reference.proportions, actual, strict=True):
        e, a = max(expected, _EPSILON), max(seen, _EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def feature_columns(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Numeric features by name: a 1-D input is one (``name``), each column of a 2-D input one (``name[i]``)."""
    columns: dict[str, np.ndarray] = {}
    for name, value in inputs.items():
        array = np.asarray(value)
        if array.dtype.kind not in "fiub":
            continue
        if array.ndim <= 1:
            columns[name] = array.astype(np.float64).ravel()
        elif array.ndim == 2:
            for index in range(array.shape[1]):
                columns[f"{name}[{index}]"] = array[:, index].astype(np.float64)
    return columns


def words(text: str) -> list[str]:
    """Lower-cased words of ``text``."""
    return [word.lower() for word in _WORD.findall(text)]


def oov_rate(texts: Iterable[str], vocabulary: set[str]) -> float:
    """Share of words that are not whole tokens of ``vocabulary`` (WordPiece, BPE ``Ġ`` or Unigram ``▁`` forms)."""
    total = unknown = 0
    for text in texts:
        for word in words(text):
            total += 1
            if word not in vocabulary and f"\u0120{word}" not in vocabulary and f"\u2581{word}" not in vocabulary:
                unknown += 1
    return unknown / total if total else 0.0


def centroid_distance(reference: Sequence[float], embeddings: np.ndarray) -> float:
    """Cosine distance between the reference centroid and the mean of ``embeddings`` (0: same direction)."""
    mean = np.asarray(embeddings, dtype=np.float64).mean(axis=0)
    ref = np.asarray(reference, dtype=np.float64)
    denominator = float(np.linalg.norm(mean) * np.linalg.norm(ref))
    return 1.0 - float(mean @ ref) / denominator if denominator else 1.0


def tokenizer_vocabulary(source: Path | bytes) -> set[str]:
    """The whole-token vocabulary of a ``tokenizer.json`` (its path or its bytes), lower-cased."""
    raw = source.read_bytes() if isinstance(source, Path) else source
    model = json.loads(raw).get("model", {})
    vocab = model.get("vocab", {})
    tokens = vocab.keys() if isinstance(vocab, dict) else [item[0] for item in vocab]
    return {str(token).lower() for token in tokens}


def text_reference(
    name: str, texts: Sequence[str], vocabulary: set[str], embeddings: np.ndarray | None = None
) -> TextReference:
    """The reference of one text input."""
    lengths = np.asarray([len(words(text)) for text in texts], dtype=np.float64)
    centroid = None
    if embeddings is not None and np.asarray(embeddings).ndim == 2:
        centroid = [float(x) for x in np.asarray(embeddings, dtype=np.float64).mean(axis=0)]
    return TextReference(name, feature_reference(f"{name}.words", lengths), oov_rate(texts, vocabulary), centroid)


def has_reference(manifest: Manifest) -> bool:
    """Whether bundles of this family carry reference statistics: tensor (tabular) and text models."""
    return manifest.task in TENSOR_TASKS or manifest.task in TEXT_TASKS


def reference_of(
    manifest: Manifest,
    inputs: Mapping[str, np.ndarray],
    outputs: Mapping[str, np.ndarray],
    read: Callable[[str], bytes],
) -> Reference:
    """The reference statistics of sample ``inputs`` (and ``outputs``: embeddings) of the model ``manifest``
    describes; ``read(name)`` gives the bytes of one of its files (the tokenizer of a text model)."""
    if manifest.text is not None:
        vocabulary = tokenizer_vocabulary(read(manifest.text.tokenizer_file))
        embedding = outputs.get(manifest.embedding.output) if manifest.embedding is not None else None
        texts = []
        for input_name, array in inputs.items():
            if np.asarray(array).dtype.kind in "OUS":
                values = [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(array).ravel()]
                texts.append(text_reference(input_name, values, vocabulary, embedding))
        return Reference(manifest.name, manifest.version, "text", texts=texts)
    features = [feature_reference(n, v) for n, v in feature_columns(inputs).items()]
    return Reference(manifest.name, manifest.version, "tabular", features=features)


def reference_file(
    manifest: Manifest,
    inputs: Mapping[str, np.ndarray],
    outputs: Mapping[str, np.ndarray],
    files: Mapping[str, bytes],
) -> dict[str, bytes]:
    """``{"reference.json": ...}`` for a bundle the packager is about to write (``files``: its processing
    files by name), or nothing for a family without references (images, generation, speech)."""
    if not has_reference(manifest):
        return {}
    reference = reference_of(manifest, inputs, outputs, files.__getitem__)
    return {REFERENCE_FILE: reference.to_json().encode()}


def reference_from_bundle(bundle: Bundle) -> Reference:
    """The reference statistics of an opened bundle (:func:`bundle.open_bundle`), recomputed from its samples."""
    samples = bundle.samples()
    return reference_of(
        bundle.manifest, samples.inputs, samples.outputs, lambda name: (bundle.root / name).read_bytes()
    )


def load_reference(bundle: Bundle | str | Path) -> Reference:
    """A bundle's reference statistics: its ``reference.json`` (checked against the manifest's sha256), or,
    for a bundle packaged before maaskit recorded them, recomputed from its samples.

    ``bundle`` is an opened bundle or the path of one (opened and verified here). Raises BundleError for a
    family without references (images, generation, speech).
    """
    opened = bundle if isinstance(bundle, Bundle) else open_bundle(bundle)
    if not has_reference(opened.manifest):
        raise BundleError(
            f"{opened.key} is a {opened.manifest.task} bundle: reference statistics are kept for tensor "
            "(tabular) and text models only"
        )
    entry = opened.manifest.files.get(REFERENCE_FILE)
    if entry is None:
        return reference_from_bundle(opened)
    raw = (opened.root / REFERENCE_FILE).read_bytes()
    if hashlib.sha256(raw).hexdigest() != entry.sha256:
        raise BundleIntegrityError(
            f"{opened.root}: {REFERENCE_FILE} does not match its sha256 in the manifest; the bundle was altered"
        )
    try:
        return Reference.from_json(raw.decode("utf-8"))
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleFormatError(f"{opened.root}: {REFERENCE_FILE} is not a reference document ({exc})") from None
