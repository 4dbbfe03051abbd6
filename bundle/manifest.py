"""The manifest schema: the one definition of what a bundle says about itself.

Unknown keys are refused (``extra="forbid"``) so that a runtime never silently
ignores something a newer packager meant. The packager writes through these
models and the runtime reads through them.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bundle.errors import BundleFormatError
from bundle.generation import GenerationSpec
from bundle.speech import SpeechSpec

__all__ = [
    "FORMAT_VERSION",
    "DType",
    "EmbeddingSpec",
    "FileEntry",
    "IMAGE_TASKS",
    "ImageSpec",
    "Resample",
    "Manifest",
    "Optimization",
    "ParityCheck",
    "ParityReport",
    "Provenance",
    "Resources",
    "TensorSpec",
    "ToolInfo",
    "dump_manifest",
    "load_manifest",
    "NAME_MAX_LENGTH",
    "NAME_PATTERN",
    "SEMVER_PATTERN",
    "TEXT_TASKS",
    "Task",
    "TextSpec",
    "VERSION_MAX_LENGTH",
]

FORMAT_VERSION: Literal[1] = 1

#: Lowercase letters, digits and inner hyphens, 1 to 48 characters: valid as a
#: Lambda function name part, a SageMaker endpoint name part and a URL segment.
NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$"
#: The longest name NAME_PATTERN allows.
NAME_MAX_LENGTH = 48
#: The longest version a manifest may carry (semver itself sets no bound; no real version comes near).
VERSION_MAX_LENGTH = 64
#: Semantic version 2.0.0 (https://semver.org), without a leading "v".
SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)

DType = Literal[
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
    "string",
]


#: What a bundle's model does. Tensor models are classifier / regressor / other; task-aware bundles
#: (which carry their own pre- and post-processing) name the Hugging Face pipeline task they serve.
Task = Literal[
    "classifier",
    "regressor",
    "other",
    "feature-extraction",
    "text-classification",
    "token-classification",
    "image-classification",
    "text-generation",
    "automatic-speech-recognition",
    "audio-classification",
]
#: Tasks whose bundles take raw text (and carry a ``text`` TextSpec).
TEXT_TASKS: frozenset[str] = frozenset({"feature-extraction", "text-classification", "token-classification"})
#: Tasks whose bundles take encoded images (and carry an ``image`` ImageSpec).
IMAGE_TASKS: frozenset[str] = frozenset({"image-classification"})
#: Pillow resampling filters, by the names Pillow gives them (preprocessor configs store their numbers).
Resample = Literal["nearest", "lanczos", "bilinear", "bicubic", "box", "hamming"]
#: Pillow's own decompression-bomb threshold (``Image.MAX_IMAGE_PIXELS``): the highest pixel limit a bundle may set.
PILLOW_MAX_PIXELS = 89_478_485
#: ONNX inputs a text encoder can fill.
TextInputName = Literal["input_ids", "attention_mask", "token_type_ids"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Strict):
    """One model input or output: name, element type and shape (None = dynamic axis)."""

    name: str = Field(min_length=1)
    dtype: DType
    shape: list[int | None]


class ToolInfo(_Strict):
    """A library and its version (source framework or converter)."""

    name: str
    version: str


class ParityCheck(_Strict):
    """One metric measured on one output, against its tolerance."""

    output: str
    metric: Literal[
        "max_abs_diff", "max_rel_diff", "label_agreement", "min_cosine", "ranking_agreement", "greedy_exact"
    ]
    tolerance: float
    measured: float
    passed: bool
    top_k: int | None = Field(default=None, ge=1)
    """ranking_agreement only: how many neighbours of each query were judged."""
    tie_margin: float | None = Field(default=None, ge=0)
    """ranking_agreement only: original similarities this close counted as a tie."""

    @property
    def relation(self) -> str:
        """How ``measured`` must stand to ``tolerance``: ``>=`` for agreements and cosine, ``<=`` for differences."""
        return ">=" if self.metric in {"label_agreement", "min_cosine", "ranking_agreement", "greedy_exact"} else "<="


class ParityReport(_Strict):
    """Outcome of the parity gate: original model versus onnxruntime on the samples."""

    sample_count: int = Field(ge=0)
    passed: bool
    checks: list[ParityCheck]


class Optimization(_Strict):
    """An offline optimization applied to model.onnx, re-checked for parity."""

    graph_level: Literal["none", "basic", "extended", "transformer"] = "none"
    quantization: Literal["none", "int8"] = "none"
    precision: Literal["fp32", "fp16"] = "fp32"
    """fp16: float weights and compute in half precision (GPU targets), float32 inputs and outputs kept."""
    size_before: int = Field(ge=0)
    size_after: int = Field(ge=0)
    parity: ParityReport


class FileEntry(_Strict):
    """Checksum and size of one bundle file."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class Resources(_Strict):
    """What serving the model takes, measured at packaging in a fresh onnxruntime process (CPU)."""

    resident_bytes: int = Field(ge=0)
    """Peak resident memory of a process that imported onnxruntime, loaded model.onnx and ran one sample."""
    ready_seconds: float = Field(ge=0)
    """Time from that process's start (before importing onnxruntime) to its first answer."""


class Provenance(_Strict):
    """Where and from what the bundle was built."""

    maaskit_version: str
    python_version: str
    git_commit: str | None = None
    ci_provider: str | None = None
    ci_run_id: str | None = None
    source: str | None = None


class TextSpec(_Strict):
    """How raw text becomes the model's inputs (run by ``bundle.processing.text`` with the Rust tokenizers)."""

    tokenizer_file: str = Field(default="tokenizer.json", pattern=r"^[A-Za-z0-9._-]+$")
    """The tokenizers JSON file inside the bundle (also listed in ``files``)."""
    tokenizer_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    max_length: int = Field(ge=1)
    """Longest token sequence the model takes (special tokens included); longer texts are truncated."""
    vocab_size: int = Field(ge=1)
    """Token ids must be in ``[0, vocab_size)``."""
    pad_token_id: int = Field(ge=0)
    input_names: list[TextInputName] = Field(min_length=1)
    """The ONNX inputs the encoder fills, in graph order."""

    @field_validator("input_names")
    @classmethod
    def _ids_are_fed(cls, names: list[str]) -> list[str]:
        if "input_ids" not in names:
            raise ValueError("input_names must include input_ids")
        if len(set(names)) != len(names):
            raise ValueError("input_names must not repeat a name")
        return names


class EmbeddingSpec(_Strict):
    """What a feature-extraction bundle's embedding output is."""

    dimensions: int = Field(ge=1)
    pooling: Literal["mean", "cls"]
    normalized: bool
    """True when the graph L2-normalises the embedding (unit length)."""
    output: str = Field(default="sentence_embedding", min_length=1)
    truncatable: bool = False
    """True when the model was trained so that its first k dimensions are an embedding too (Matryoshka):
    the OpenAI API's ``dimensions`` may then ask for fewer."""


class ImageSpec(_Strict):
    """How an encoded image becomes the model's pixel tensor (run by ``bundle.processing.image``: Pillow + numpy).

    The steps, in order (those of the Hugging Face image processors): decode (JPEG, PNG, WebP), refuse
    more than ``max_pixels`` before decoding the pixel data, apply the EXIF orientation, convert to RGB;
    resize (the shortest edge to ``resize_shortest_edge`` keeping the aspect ratio, or to exactly
    ``resize_to`` [height, width]) with ``resample``; centre-crop to ``crop_size`` [height, width];
    multiply by ``rescale_factor``; subtract ``image_mean`` and divide by ``image_std`` per channel;
    float32, channels first: [batch, 3, height, width] into ONNX input ``input_name``.
    """

    input_name: str = Field(default="pixel_values", min_length=1)
    processor: str = Field(default="custom", min_length=1)
    """Where the settings came from: the Hugging Face image processor class, or ``custom`` (given in Python)."""
    resize_shortest_edge: int | None = Field(default=None, ge=1)
    resize_to: list[int] | None = Field(default=None, min_length=2, max_length=2)
    resample: Resample = "bilinear"
    crop_size: list[int] | None = Field(default=None, min_length=2, max_length=2)
    rescale_factor: float | None = Field(default=None, gt=0)
    image_mean: list[float] | None = Field(default=None, min_length=3, max_length=3)
    image_std: list[float] | None = Field(default=None, min_length=3, max_length=3)
    max_pixels: int = Field(default=40_000_000, ge=1, le=PILLOW_MAX_PIXELS)
    """Images with more pixels (width x height, read from the header) are refused before decoding."""

    @model_validator(mode="after")
    def _fixed_output(self) -> ImageSpec:
        if self.resize_shortest_edge is not None and self.resize_to is not None:
            raise ValueError("give resize_shortest_edge or resize_to, not both")
        for name in ("resize_to", "crop_size"):
            size = getattr(self, name)
            if size is not None and min(size) < 1:
                raise ValueError(f"{name} must be [height, width] of positive whole numbers")
        if self.crop_size is None and self.resize_to is None:
            raise ValueError("the pixel tensor needs a fixed size: give crop_size or resize_to")
        if (self.image_mean is None) != (self.image_std is None):
            raise ValueError("image_mean and image_std go together")
        if self.image_std is not None and min(self.image_std) <= 0:
            raise ValueError("image_std values must be > 0")
        return self

    @property
    def output_size(self) -> tuple[int, int]:
        """(height, width) of the pixel tensor."""
        size = self.crop_size or self.resize_to
        assert size is not None  # the validator guarantees one
        return int(size[0]), int(size[1])


class Manifest(_Strict):
    """manifest.json, format version 1."""

    format_version: Literal[1] = FORMAT_VERSION
    name: str = Field(pattern=NAME_PATTERN)
    version: str = Field(pattern=SEMVER_PATTERN, max_length=VERSION_MAX_LENGTH)
    created: str
    framework: ToolInfo
    converter: ToolInfo
    opsets: dict[str, int]
    inputs: list[TensorSpec] = Field(min_length=1)
    outputs: list[TensorSpec] = Field(min_length=1)
    task: Task = "other"
    labels: list[str] | list[int] | None = None
    label_output: str | None = None
    probability_output: str | None = None
    parity: ParityReport
    optimization: Optimization | None = None
    resources: Resources | None = None
    files: dict[str, FileEntry]
    provenance: Provenance
    metadata: dict[str, str] = Field(default_factory=dict)
    nonfinite_inputs: bool = False
    """True when the model takes NaN or infinite inputs (set by the packager when its samples hold them):
    requests carrying them are served, not refused."""
    text: TextSpec | None = None
    """Present exactly when ``task`` is a text task: the tokenizer and its limits."""
    embedding: EmbeddingSpec | None = None
    """feature-extraction bundles only: the sentence embedding output."""
    image: ImageSpec | None = None
    """Present exactly when ``task`` is an image task: how encoded images become the pixel tensor."""
    generation: GenerationSpec | None = None
    """Present exactly when ``task`` is text-generation (see :mod:`bundle.generation`)."""
    speech: SpeechSpec | None = None
    """Speech bundles (automatic-speech-recognition) only (see :mod:`bundle.speech`)."""

    @field_validator("files")
    @classmethod
    def _files_are_plain_names(cls, files: dict[str, FileEntry]) -> dict[str, FileEntry]:
        for name in files:
            if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or name in {".", ".."}:
                raise ValueError(f"file name {name!r} must be a plain name inside the bundle")
        if "model.onnx" not in files:
            raise ValueError("files must list model.onnx")
        return files

    @model_validator(mode="after")
    def _text_fields_fit_the_task(self) -> Manifest:
        if (self.task in TEXT_TASKS) != (self.text is not None):
            needs = "needs a" if self.task in TEXT_TASKS else "takes no"
            raise ValueError(f"task {self.task!r} {needs} text spec")
        if self.text is not None:
            entry = self.files.get(self.text.tokenizer_file)
            if entry is None:
                raise ValueError(f"files must list the tokenizer {self.text.tokenizer_file}")
            if entry.sha256 != self.text.tokenizer_sha256:
                raise ValueError(
                    f"text.tokenizer_sha256 is not the sha256 of {self.text.tokenizer_file} listed in files"
                )
        if (self.task == "feature-extraction") != (self.embedding is not None):
            raise ValueError("an embedding spec goes with task feature-extraction, and only with it")
        if self.embedding is not None and not any(o.name == self.embedding.output for o in self.outputs):
            raise ValueError(f"embedding output {self.embedding.output!r} is not an output of the model")
        if (self.task in IMAGE_TASKS) != (self.image is not None):
            needs = "needs an" if self.task in IMAGE_TASKS else "takes no"
            raise ValueError(f"task {self.task!r} {needs} image spec")
        if self.image is not None and self.input_spec(self.image.input_name) is None:
            raise ValueError(f"image input {self.image.input_name!r} is not an input of the model")
        if (self.task == "text-generation") != (self.generation is not None):
            raise ValueError("a generation spec goes with task text-generation, and only with it")
        return self

    @property
    def allows_nonfinite(self) -> bool:
        """NaN/inf inputs are served: ``nonfinite_inputs``, or an older bundle's ``allow_nonfinite`` metadata string."""
        return self.nonfinite_inputs or str(self.metadata.get("allow_nonfinite", "")).lower() == "true"

    def input_spec(self, name: str) -> TensorSpec | None:
        """The input called ``name``, or None."""
        return next((spec for spec in self.inputs if spec.name == name), None)


def _format_validation_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        location = ".".join(str(part) for part in item["loc"]) or "(root)"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)


def load_manifest(raw: bytes, source: str = "manifest.json") -> Manifest:
    """Parse and validate manifest bytes; raise BundleFormatError naming the bad key."""
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BundleFormatError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BundleFormatError(f"{source} must hold a JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleFormatError(
            f"{source} has format_version {version!r}; this maaskit reads {FORMAT_VERSION}. "
            "Repackage the model with this maaskit version or upgrade the runtime."
        )
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise BundleFormatError(f"{source} breaks the schema: {_format_validation_error(exc)}") from None


def dump_manifest(manifest: Manifest) -> bytes:
    """Serialize deterministically (sorted keys, two-space indent, trailing newline)."""
    return orjson.dumps(manifest.model_dump(mode="json"), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
