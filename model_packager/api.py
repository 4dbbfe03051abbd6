"""``package()``: convert a trained model, gate it on parity, write a versioned bundle.

The same function backs ``maaskit package``; training scripts call it directly::

    from model_packager import package
    result = package(pipeline, name="churn", version="1.2.0", sample=X_test[:16])
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from bundle import MODEL_DATA_FILE, NAME_PATTERN, SAMPLES_FILE, SEMVER_PATTERN, Manifest, ParityReport
from bundle.parity import OutputMismatchError, align_expected, reproduces, tolerances_for
from bundle.samples import samples_bytes
from bundle.writer import BundlePaths, bundle_paths, write_bundle
from model_packager.converters.base import Conversion, ConversionError, ConvertOptions, PackagingError
from model_packager.converters.registry import ConverterRegistry, default_registry
from model_packager.model_files import StagedModel, check_staged, stage_model
from model_packager.optimize import GraphLevel, Quantization, apply_optimizations
from model_packager.parity import (
    DEFAULT_TOLERANCES,
    FP16_TOLERANCES,
    INT8_TOLERANCES,
    ParityError,
    Tolerances,
    run_onnx,
)
from model_packager.precision import PRECISIONS, Precision
from model_packager.provenance import created_time, detect_provenance
from model_packager.resources import check_packaging_memory, measure_resources
from model_packager.samples import load_sample_file
from model_packager.signature import graph_specs, normalize_model, opsets_of

__all__ = ["MAX_STORED_ROWS", "MEASURE_ABOVE_BYTES", "InvalidRequestError", "PackageResult", "package"]

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


def _existing_parent(out: Path) -> Path:
    """``out``, or its nearest existing ancestor: staging there keeps model files on the bundle's file system."""
    existing = out
    while not existing.exists():
        existing = existing.parent
    return existing


def _validate(
    name: str, version: str, metadata: Mapping[str, str] | None, optimize: str, quantize: str | None, *, precision: str
) -> None:
    if not re.fullmatch(NAME_PATTERN, name):
        raise InvalidRequestError(
            f"invalid name {name!r}: use 1-48 lowercase letters, digits and inner hyphens (e.g. 'iris-classifier')"
        )
    if not re.fullmatch(SEMVER_PATTERN, version):
        raise InvalidRequestError(f"invalid version {version!r}: use a semantic version such as 1.0.0 (no leading 'v')")
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not isinstance(value, str) or not key:
            raise InvalidRequestError(f"metadata must map non-empty strings to strings; got {key!r}: {value!r}")
    if optimize not in {"none", "basic", "extended"}:
        raise InvalidRequestError(f"optimize must be none, basic or extended (portable levels), not {optimize!r}")
    if quantize not in {None, "none", "int8"}:
        raise InvalidRequestError(f"quantize must be int8 or None, not {quantize!r}")
    if precision not in PRECISIONS:
        raise InvalidRequestError(f"precision must be fp32 or fp16 (GPU targets), not {precision!r}")
    if precision == "fp16" and quantize == "int8":
        raise InvalidRequestError(
            "fp16 (GPU) and int8 (CPU) exclude each other: choose --precision fp16 or --quantize int8"
        )


def _check_target(out: Path, paths: BundlePaths, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InvalidRequestError(f"output directory {out} is a file; give a directory with --out")
    existing = _existing_parent(out)
    if not existing.is_dir():
        raise InvalidRequestError(f"cannot create output directory {out}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidRequestError(f"output directory {existing} is not writable; choose another --out")
    if not force and (paths.directory.exists() or paths.archive.exists()):
        raise InvalidRequestError(
            f"bundle {paths.directory.name} already exists in {out}; bump the version or pass --force to replace it"
        )


def _stored(arrays: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    return {k: (v[:MAX_STORED_ROWS] if v.ndim and v.shape[0] == rows else v) for k, v in arrays.items()}


def _aligned(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    try:
        return align_expected(expected, actual)
    except OutputMismatchError as exc:
        raise ConversionError(f"{exc} (onnxruntime versus the original model)") from None


def _stored_samples(
    model_bytes: bytes | Path, feed: dict[str, np.ndarray], expected: dict[str, np.ndarray], manifest: Manifest
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The rows kept in samples.npz; they must pass the very check ``verify`` and the runtime's warm-up make.

    Parity was measured on every sample row; a label agreement that passed there can fall below its
    minimum on the stored subset (one flip in 64 rows is 98.4%), and such a bundle would be refused at load.
    """
    measured = manifest.parity.sample_count
    inputs, outputs = _stored(feed, measured), _stored(expected, measured)
    if measured <= MAX_STORED_ROWS:
        return inputs, outputs  # every measured row is stored: the gate already judged exactly these samples
    report, failures = reproduces(
        run_onnx(model_bytes, inputs), outputs, tolerances_for(manifest), manifest.label_output
    )
    if failures:
        raise ParityError(
            f"the first {report.sample_count} of the {measured} sample rows, kept in samples.npz, do not reproduce "
            "within tolerance, so verify and serve would refuse the bundle: "
            + "; ".join(failures)
            + ". Give a sample whose first rows agree, or lower min_label_agreement.",
            report,
            "stored samples",
        )
    return inputs, outputs


def _maaskit_version() -> str:
    from maaskit import __version__

    return str(__version__)


def package(
    model_or_path: Any,
    *,
    name: str,
    version: str,
    sample: Any = None,
    framework: str | None = None,
    out: Path | str = Path("bundles"),
    optimize: GraphLevel = "none",
    quantize: Quantization | None = None,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
    int8_tolerances: Tolerances = INT8_TOLERANCES,
    metadata: Mapping[str, str] | None = None,
    force: bool = False,
    on_step: Callable[[str], None] | None = None,
    registry: ConverterRegistry | None = None,
    precision: Precision = "fp32",
    fp16_tolerances: Tolerances = FP16_TOLERANCES,
    measure: bool | None = None,
) -> PackageResult:
    """Convert ``model_or_path`` to ONNX, check parity, optimize if asked, and write the bundle.

    ``sample`` may be a ``.npy``/``.npz``/``.csv`` path, an array, a dict of arrays, a tuple of
    arrays/tensors or a DataFrame; None generates one where the signature allows it.
    ``precision="fp16"`` converts the model to half precision for GPU targets (float32 inputs and
    outputs kept), gated by ``fp16_tolerances``. Large models (over 512 MiB, and necessarily over
    2 GB) keep their weights as external data (``model.onnx.data``); a model too large for this
    machine's memory is refused first (ModelTooLargeError). ``measure`` records the resident memory and time to ready of
    the final model in a fresh onnxruntime process (``manifest.resources``, used to size Lambda);
    None measures models of MEASURE_ABOVE_BYTES or more only, so small bundles stay byte-reproducible.
    Raises PackagingError (fixable input problem), BundleError (writing) or ParityError.
    """
    step = on_step or (lambda _message: None)
    started = time.perf_counter()
    out = Path(out)
    _validate(name, version, metadata, optimize, quantize, precision=precision)
    paths = bundle_paths(out, name, version)
    _check_target(out, paths, force)
    check_packaging_memory(model_or_path)

    step("loading model")
    if isinstance(sample, str | Path):
        sample = load_sample_file(Path(sample))
    resolved = (registry or default_registry()).resolve(model_or_path, framework)
    step(f"converting with {resolved.converter.name}")
    conversion = resolved.converter.convert(resolved.model, sample, ConvertOptions())
    workdir = Path(tempfile.mkdtemp(prefix=f".maaskit-{name}-", dir=_existing_parent(out)))
    try:
        job = _Job(
            name, version, out, optimize, quantize, precision, tolerances, int8_tolerances, fp16_tolerances,
            metadata, force, step, measure,
        )  # fmt: skip
        model_path = Path(model_or_path) if isinstance(model_or_path, str | Path) else None
        return _finish(job, conversion, source=resolved.source, model_path=model_path, workdir=workdir, started=started)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass(frozen=True)
class _Job:
    """What ``package`` was asked for, past validation."""

    name: str
    version: str
    out: Path
    optimize: GraphLevel
    quantize: Quantization | None
    precision: Precision
    tolerances: Tolerances
    int8_tolerances: Tolerances
    fp16_tolerances: Tolerances
    metadata: Mapping[str, str] | None
    force: bool
    step: Callable[[str], None]
    measure: bool | None


def _stage(conversion: Conversion, workdir: Path, name: str) -> StagedModel:
    """Write the converted model under ``workdir`` (external data when large) and let go of its protobuf."""
    model = normalize_model(conversion.model, name)
    try:
        staged = stage_model(
            model,
            workdir / "converted",
            external_data_dir=conversion.external_data_dir,
            move_external_data=conversion.external_data_temporary,
        )
    except OSError as exc:
        raise InvalidRequestError(f"cannot stage the model under {workdir.parent}: {exc.strerror or exc}") from None
    finally:
        if conversion.external_data_temporary and conversion.external_data_dir is not None:
            shutil.rmtree(conversion.external_data_dir, ignore_errors=True)
    conversion.model = onnx.ModelProto()  # the weights are on disk now: let the protobuf go
    return staged


def _finish(
    job: _Job, conversion: Conversion, *, source: str | None, model_path: Path | None, workdir: Path, started: float
) -> PackageResult:
    """From the converted model to the written bundle; every model file lives under ``workdir`` until then."""
    name, version, out, step = job.name, job.version, job.out, job.step
    timings: dict[str, float] = {}
    staged = _stage(conversion, workdir, name)
    check_staged(staged)
    timings["convert_s"] = time.perf_counter() - started

    step("checking parity with onnxruntime")
    actual = run_onnx(staged.path, conversion.inputs)
    expected = _aligned(conversion.expected, actual)
    parity, failures = reproduces(actual, expected, job.tolerances, conversion.label_output)
    if failures:
        raise ParityError("parity failed: " + "; ".join(failures), parity, "conversion")
    del actual
    timings["parity_s"] = time.perf_counter() - started - timings["convert_s"]

    if job.optimize != "none" or job.quantize == "int8" or job.precision != "fp32":
        step("optimizing and re-checking parity")
    final, optimization = apply_optimizations(
        staged,
        conversion.inputs,
        expected,
        graph_level=job.optimize,
        quantization=job.quantize or "none",
        tolerances=job.tolerances,
        int8_tolerances=job.int8_tolerances,
        label_output=conversion.label_output,
        precision=job.precision,
        fp16_tolerances=job.fp16_tolerances,
        workdir=workdir,
    )
    final_model = final.graph()
    inputs, outputs = graph_specs(final_model)

    notes = list(conversion.notes)
    rows = parity.sample_count
    if rows > MAX_STORED_ROWS:
        notes.append(f"parity measured on {rows} rows; samples.npz keeps the first {MAX_STORED_ROWS}")
    if final.data is not None:
        notes.append(f"weights stored as ONNX external data ({MODEL_DATA_FILE}) beside model.onnx: a large model")
    if job.precision == "fp16":
        notes.append("fp16 parity was checked on the CPU provider (no GPU here); inputs and outputs stay float32")
    manifest = Manifest(
        name=name,
        version=version,
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
        files={"model.onnx": {"sha256": "0" * 64, "size": 0}},  # type: ignore[dict-item]  # filled by write_bundle
        provenance=detect_provenance(_maaskit_version(), source),
        metadata=dict(job.metadata or {}),
    )
    stored_inputs, stored_outputs = _stored_samples(final.path, conversion.inputs, expected, manifest)
    if job.measure or (job.measure is None and final.size >= MEASURE_ABOVE_BYTES):
        step("measuring memory and time to ready in a fresh onnxruntime process")
        probe_samples = workdir / SAMPLES_FILE
        probe_samples.write_bytes(samples_bytes(stored_inputs, stored_outputs))
        resources = measure_resources(final.path, probe_samples)
        timings["measure_s"] = time.perf_counter() - started - sum(timings.values())
        manifest = manifest.model_copy(update={"resources": resources})
    step("writing bundle")
    try:
        written = write_bundle(
            out, manifest, final.path, stored_inputs, stored_outputs, force=job.force, data_files=final.data_files
        )
    except OSError as exc:  # permission denied, disk full, read-only file system...
        raise InvalidRequestError(
            f"cannot write to {out}: {exc.strerror or exc}; free space there or choose another --out (nothing written)"
        ) from None
    timings["total_s"] = time.perf_counter() - started
    final_manifest = Manifest.model_validate_json((written.directory / "manifest.json").read_bytes())
    return PackageResult(written.directory, written.archive, final_manifest, notes, timings)
