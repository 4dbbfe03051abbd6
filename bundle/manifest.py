"""The manifest schema: the one definition of what a bundle says about itself.

Unknown keys are refused (``extra="forbid"``) so that a runtime never silently
ignores something a newer packager meant. The packager writes through these
models and the runtime reads through them.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bundle.errors import BundleFormatError

__all__ = [
    "FORMAT_VERSION",
    "DType",
    "FileEntry",
    "Manifest",
    "Optimization",
    "ParityCheck",
    "ParityReport",
    "Provenance",
    "TensorSpec",
    "ToolInfo",
    "dump_manifest",
    "load_manifest",
    "NAME_MAX_LENGTH",
    "NAME_PATTERN",
    "SEMVER_PATTERN",
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
    metric: Literal["max_abs_diff", "max_rel_diff", "label_agreement"]
    tolerance: float
    measured: float
    passed: bool


class ParityReport(_Strict):
    """Outcome of the parity gate: original model versus onnxruntime on the samples."""

    sample_count: int = Field(ge=0)
    passed: bool
    checks: list[ParityCheck]


class Optimization(_Strict):
    """An offline optimization applied to model.onnx, re-checked for parity."""

    graph_level: Literal["none", "basic", "extended"] = "none"
    quantization: Literal["none", "int8"] = "none"
    size_before: int = Field(ge=0)
    size_after: int = Field(ge=0)
    parity: ParityReport


class FileEntry(_Strict):
    """Checksum and size of one bundle file."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class Provenance(_Strict):
    """Where and from what the bundle was built."""

    maaskit_version: str
    python_version: str
    git_commit: str | None = None
    ci_provider: str | None = None
    ci_run_id: str | None = None
    source: str | None = None


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
    task: Literal["classifier", "regressor", "other"] = "other"
    labels: list[str] | list[int] | None = None
    label_output: str | None = None
    probability_output: str | None = None
    parity: ParityReport
    optimization: Optimization | None = None
    files: dict[str, FileEntry]
    provenance: Provenance
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("files")
    @classmethod
    def _files_are_plain_names(cls, files: dict[str, FileEntry]) -> dict[str, FileEntry]:
        for name in files:
            if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or name in {".", ".."}:
                raise ValueError(f"file name {name!r} must be a plain name inside the bundle")
        if "model.onnx" not in files:
            raise ValueError("files must list model.onnx")
        return files

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
