"""The bundle contract: schema, reader, writer, checksum verification and the parity rule.

This package is the single definition of the bundle format (DESIGN.md §2). It
depends only on numpy, pydantic and orjson so it ships inside every runtime
artifact; the packager writes through it and the runtime reads through it.

The names below load on first use (PEP 562): ``import bundle.names`` or ``bundle.version`` stays
cheap for the command line, while ``from bundle import Manifest`` works as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bundle.errors import (
        BundleError,
        BundleFormatError,
        BundleIntegrityError,
        BundleNotFoundError,
        InputError,
        UnsafeArchiveError,
    )
    from bundle.manifest import (
        FORMAT_VERSION,
        IMAGE_TASKS,
        NAME_PATTERN,
        SEMVER_PATTERN,
        TEXT_TASKS,
        EmbeddingSpec,
        FileEntry,
        ImageSpec,
        Manifest,
        Optimization,
        ParityCheck,
        ParityReport,
        Provenance,
        Resources,
        Task,
        TensorSpec,
        TextSpec,
        ToolInfo,
        dump_manifest,
        load_manifest,
    )
    from bundle.parity import (
        ACCELERATOR_ATOL,
        DEFAULT_TOLERANCES,
        INT8_TOLERANCES,
        Tolerances,
        reproduces,
        tolerances_for,
    )
    from bundle.reader import (
        MANIFEST_FILE,
        MODEL_DATA_FILE,
        MODEL_FILE,
        SAMPLES_FILE,
        Bundle,
        file_sha256,
        open_bundle,
        verify_files,
    )
    from bundle.samples import (
        Samples,
        read_samples,
    )

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "BundleError": "bundle.errors",
    "BundleFormatError": "bundle.errors",
    "BundleIntegrityError": "bundle.errors",
    "BundleNotFoundError": "bundle.errors",
    "InputError": "bundle.errors",
    "UnsafeArchiveError": "bundle.errors",
    "FORMAT_VERSION": "bundle.manifest",
    "FileEntry": "bundle.manifest",
    "Manifest": "bundle.manifest",
    "NAME_PATTERN": "bundle.manifest",
    "Optimization": "bundle.manifest",
    "ParityCheck": "bundle.manifest",
    "ParityReport": "bundle.manifest",
    "Provenance": "bundle.manifest",
    "Resources": "bundle.manifest",
    "SEMVER_PATTERN": "bundle.manifest",
    "EmbeddingSpec": "bundle.manifest",
    "IMAGE_TASKS": "bundle.manifest",
    "ImageSpec": "bundle.manifest",
    "TEXT_TASKS": "bundle.manifest",
    "Task": "bundle.manifest",
    "TensorSpec": "bundle.manifest",
    "TextSpec": "bundle.manifest",
    "ToolInfo": "bundle.manifest",
    "dump_manifest": "bundle.manifest",
    "load_manifest": "bundle.manifest",
    "ACCELERATOR_ATOL": "bundle.parity",
    "DEFAULT_TOLERANCES": "bundle.parity",
    "INT8_TOLERANCES": "bundle.parity",
    "Tolerances": "bundle.parity",
    "reproduces": "bundle.parity",
    "tolerances_for": "bundle.parity",
    "Bundle": "bundle.reader",
    "MANIFEST_FILE": "bundle.reader",
    "MODEL_DATA_FILE": "bundle.reader",
    "MODEL_FILE": "bundle.reader",
    "SAMPLES_FILE": "bundle.reader",
    "file_sha256": "bundle.reader",
    "open_bundle": "bundle.reader",
    "verify_files": "bundle.reader",
    "Samples": "bundle.samples",
    "read_samples": "bundle.samples",
}

__all__ = [
    "ACCELERATOR_ATOL",
    "DEFAULT_TOLERANCES",
    "FORMAT_VERSION",
    "IMAGE_TASKS",
    "MANIFEST_FILE",
    "MODEL_DATA_FILE",
    "MODEL_FILE",
    "NAME_PATTERN",
    "SAMPLES_FILE",
    "SEMVER_PATTERN",
    "TEXT_TASKS",
    "Bundle",
    "BundleError",
    "BundleFormatError",
    "BundleIntegrityError",
    "BundleNotFoundError",
    "EmbeddingSpec",
    "FileEntry",
    "ImageSpec",
    "INT8_TOLERANCES",
    "InputError",
    "Manifest",
    "Optimization",
    "ParityCheck",
    "ParityReport",
    "Provenance",
    "Resources",
    "Samples",
    "Task",
    "TensorSpec",
    "TextSpec",
    "ToolInfo",
    "Tolerances",
    "UnsafeArchiveError",
    "dump_manifest",
    "file_sha256",
    "load_manifest",
    "open_bundle",
    "read_samples",
    "reproduces",
    "tolerances_for",
    "verify_files",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bundle' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
