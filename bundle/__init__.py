"""The bundle contract: schema, reader, writer and checksum verification.

This package is the single definition of the bundle format (DESIGN.md §2). It
depends only on numpy, pydantic and orjson so it ships inside every runtime
artifact; the packager writes through it and the runtime reads through it.
"""

from bundle.errors import (
    BundleError,
    BundleFormatError,
    BundleIntegrityError,
    BundleNotFoundError,
    UnsafeArchiveError,
)
from bundle.manifest import (
    FORMAT_VERSION,
    NAME_MAX_LENGTH,
    NAME_PATTERN,
    SEMVER_PATTERN,
    VERSION_MAX_LENGTH,
    FileEntry,
    Manifest,
    Optimization,
    ParityCheck,
    ParityReport,
    Provenance,
    TensorSpec,
    ToolInfo,
    dump_manifest,
    load_manifest,
)
from bundle.reader import (
    MANIFEST_FILE,
    MODEL_FILE,
    SAMPLES_FILE,
    Bundle,
    file_sha256,
    open_bundle,
    verify_files,
)
from bundle.samples import Samples, read_samples

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "NAME_MAX_LENGTH",
    "NAME_PATTERN",
    "SAMPLES_FILE",
    "SEMVER_PATTERN",
    "VERSION_MAX_LENGTH",
    "Bundle",
    "BundleError",
    "BundleFormatError",
    "BundleIntegrityError",
    "BundleNotFoundError",
    "FileEntry",
    "Manifest",
    "Optimization",
    "ParityCheck",
    "ParityReport",
    "Provenance",
    "Samples",
    "TensorSpec",
    "ToolInfo",
    "UnsafeArchiveError",
    "dump_manifest",
    "file_sha256",
    "load_manifest",
    "open_bundle",
    "read_samples",
    "verify_files",
]
