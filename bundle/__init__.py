"""The bundle contract: schema, reader, writer, checksum verification and the parity rule.

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
    NAME_PATTERN,
    SEMVER_PATTERN,
    FileEntry,
    Manifest,
    Optimization,
    ParityCheck,
    ParityReport,
    Provenance,
    Resources,
    TensorSpec,
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
from bundle.samples import Samples, read_samples

__all__ = [
    "ACCELERATOR_ATOL",
    "DEFAULT_TOLERANCES",
    "FORMAT_VERSION",
    "MANIFEST_FILE",
    "MODEL_DATA_FILE",
    "MODEL_FILE",
    "NAME_PATTERN",
    "SAMPLES_FILE",
    "SEMVER_PATTERN",
    "Bundle",
    "BundleError",
    "BundleFormatError",
    "BundleIntegrityError",
    "BundleNotFoundError",
    "FileEntry",
    "INT8_TOLERANCES",
    "Manifest",
    "Optimization",
    "ParityCheck",
    "ParityReport",
    "Provenance",
    "Resources",
    "Samples",
    "TensorSpec",
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
