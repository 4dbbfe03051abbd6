"""What one ``package()`` call was asked for and what it returns: shared by the tensor and text/image paths."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from bundle import FileEntry, Manifest, Optimization, ParityReport
from bundle.version import maaskit_version
from bundle.writer import BundlePaths
from model_packager.converters.base import Conversion, PackagingError
from model_packager.optimize import GraphLevel, Quantization
from model_packager.parity import Tolerances
from model_packager.precision import Precision
from model_packager.provenance import created_time, detect_provenance
from model_packager.signature import graph_specs, opsets_of
from model_packager.text_package import TextTolerances

__all__ = [
    "work_folder",
    "MAX_STORED_ROWS",
    "MEASURE_ABOVE_BYTES",
    "InvalidRequestError",
    "Job",
    "PackageResult",
    "bundle_manifest",
    "write_result",
]

#: samples.npz keeps at most this many rows (parity runs on the whole sample).
MAX_STORED_ROWS = 64
#: Models this large get their memory and time to ready measured by default: a machine-dependent figure
#: that makes their manifest differ between builds, and the one that sizes a Lambda for them.
MEASURE_ABOVE_BYTES = 64 * 1024**2


class InvalidRequestError(PackagingError):
    """A bad name, version, metadata, option or output directory."""


@dataclass(frozen=True)
class PackageResult:
    """What ``package`` wrote and measured."""

    directory: Path
    archive: Path
    manifest: Manifest
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def parity(self) -> ParityReport:
        """The parity of the bundled model.onnx (after optimizations when any)."""
        return self.manifest.optimization.parity if self.manifest.optimization else self.manifest.parity

    @property
    def archive_size(self) -> int:
        """Size of the .tar.gz in bytes."""
        return self.archive.stat().st_size


@dataclass(frozen=True)
class Job:
    """What ``package`` was asked for, past validation."""

    name: str
    version: str
    out: Path
    optimize: GraphLevel | str
    quantize: Quantization | None
    precision: Precision
    tolerances: Tolerances
    int8_tolerances: Tolerances
    fp16_tolerances: Tolerances
    text_tolerances: TextTolerances
    int8_text_tolerances: TextTolerances
    metadata: Mapping[str, str] | None
    force: bool
    step: Callable[[str], None]
    measure: bool | None


def write_result(job: Job, manifest: Manifest, write: Callable[[], BundlePaths], notes: list[str],
                 timings: dict[str, float]) -> PackageResult:  # fmt: skip
    """Run ``write`` (a ``write_bundle`` call) with OSErrors explained, and read back what was written."""
    job.step("writing bundle")
    try:
        written = write()
    except OSError as exc:  # permission denied, disk full, read-only file system...
        raise InvalidRequestError(
            f"cannot write to {job.out}: {exc.strerror or exc}; free space there or choose another --out "
            "(nothing written)"
        ) from None
    final_manifest = Manifest.model_validate_json((written.directory / "manifest.json").read_bytes())
    return PackageResult(written.directory, written.archive, final_manifest, notes, timings)


def bundle_manifest(
    job: Job,
    conversion: Conversion,
    final_model: onnx.ModelProto,
    *,
    parity: ParityReport,
    optimization: Optimization | None,
    files: dict[str, FileEntry],
    source: str | None,
    model_path: Path | None,
    **fields: Any,
) -> Manifest:
    """The manifest of the bundle ``job`` writes (``files`` completed by ``write_bundle``; ``fields``: task specs)."""
    inputs, outputs = graph_specs(final_model)
    return Manifest(
        name=job.name,
        version=job.version,
        created=created_time(model_path),
        framework=conversion.framework,
        converter=conversion.converter,
        opsets=opsets_of(final_model),
        inputs=inputs,
        outputs=outputs,
        task=conversion.task,
        labels=conversion.labels,
        label_output=conversion.label_output,
        probability_output=conversion.probability_output,
        parity=parity,
        optimization=optimization,
        files=files,
        provenance=detect_provenance(maaskit_version(), source),
        metadata=dict(job.metadata or {}),
        **fields,
    )


@contextmanager
def work_folder(parent: Path, name: str) -> Iterator[Path]:
    """A scratch folder for one packaging run (``parent/.maaskit-{name}-*``), removed however the run ends.

    Beside the bundle's place, so the finished bundle moves into place without a copy, and nothing
    half-written is left when the run fails.
    """
    work = Path(tempfile.mkdtemp(prefix=f".maaskit-{name}-", dir=parent))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
