"""``package()``: convert a trained model, gate it on parity, write a versioned bundle.

The same function backs ``maaskit package``; training scripts call it directly::

    from model_packager import package
    result = package(pipeline, name="churn", version="1.2.0", sample=X_test[:16])
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx

from bundle import NAME_PATTERN, SEMVER_PATTERN, Manifest, ParityReport
from bundle.parity import OutputMismatchError, align_expected, reproduces, tolerances_for
from bundle.writer import BundlePaths, bundle_paths, write_bundle
from model_packager.converters.base import Conversion, ConversionError, ConvertOptions, PackagingError
from model_packager.converters.registry import ConverterRegistry, default_registry
from model_packager.converters.transformers_text import TextConversion, TransformersTextConverter
from model_packager.optimize import GraphLevel, Quantization, apply_optimizations
from model_packager.parity import DEFAULT_TOLERANCES, INT8_TOLERANCES, ParityError, Tolerances, run_onnx
from model_packager.provenance import created_time, detect_provenance
from model_packager.samples import load_sample_file
from model_packager.signature import graph_specs, normalize_model, opsets_of
from model_packager.text_optimize import INT8_TEXT_TOLERANCES, TextGates
from model_packager.text_package import (
    DEFAULT_TEXT_TOLERANCES,
    GateResult,
    TextTolerances,
    gate_text,
    placeholder_files,
)
from model_packager.text_samples import is_text_sample_file

__all__ = ["MAX_STORED_ROWS", "InvalidRequestError", "PackageResult", "package"]

#: samples.npz keeps at most this many rows (parity runs on the whole sample).
MAX_STORED_ROWS = 64
_ONNX_LIMIT = 2 * 1024**3


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


def _validate(name: str, version: str, metadata: Mapping[str, str] | None, optimize: str, quantize: str | None) -> None:
    if not re.fullmatch(NAME_PATTERN, name):
        raise InvalidRequestError(
            f"invalid name {name!r}: use 1-48 lowercase letters, digits and inner hyphens (e.g. 'iris-classifier')"
        )
    if not re.fullmatch(SEMVER_PATTERN, version):
        raise InvalidRequestError(f"invalid version {version!r}: use a semantic version such as 1.0.0 (no leading 'v')")
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not isinstance(value, str) or not key:
            raise InvalidRequestError(f"metadata must map non-empty strings to strings; got {key!r}: {value!r}")
    if optimize not in {"none", "basic", "extended", "transformer"}:
        raise InvalidRequestError(
            f"optimize must be none, basic, extended (portable levels) or transformer (text models), not {optimize!r}"
        )
    if quantize not in {None, "none", "int8"}:
        raise InvalidRequestError(f"quantize must be int8 or None, not {quantize!r}")


def _check_target(out: Path, paths: BundlePaths, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InvalidRequestError(f"output directory {out} is a file; give a directory with --out")
    existing = out
    while not existing.exists():
        existing = existing.parent
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
    model_bytes: bytes, feed: dict[str, np.ndarray], expected: dict[str, np.ndarray], manifest: Manifest
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


def _gate_tensor(
    conversion: Conversion,
    model_bytes: bytes,
    *,
    optimize: str,
    quantize: str | None,
    gates: tuple[Tolerances, Tolerances],
    notes: list[str],
    step: Callable[[str], None],
) -> GateResult:
    """The parity gate and the optimizations of a tensor model (sample arrays in, arrays out)."""
    step("checking parity with onnxruntime")
    actual = run_onnx(model_bytes, conversion.inputs)
    expected = _aligned(conversion.expected, actual)
    parity, failures = reproduces(actual, expected, gates[0], conversion.label_output)
    if failures:
        raise ParityError("parity failed: " + "; ".join(failures), parity, "conversion")
    if optimize != "none" or quantize == "int8":
        step("optimizing and re-checking parity")
    final_bytes, optimization = apply_optimizations(
        model_bytes,
        conversion.inputs,
        expected,
        graph_level=optimize,  # type: ignore[arg-type]  # "transformer" is refused for tensor models
        quantization=quantize or "none",  # type: ignore[arg-type]
        tolerances=gates[0],
        int8_tolerances=gates[1],
        label_output=conversion.label_output,
    )
    rows = parity.sample_count
    if rows > MAX_STORED_ROWS:
        notes.append(f"parity measured on {rows} rows; samples.npz keeps the first {MAX_STORED_ROWS}")
    return GateResult(parity, final_bytes, optimization, conversion.inputs, expected, {})


def package(
    model_or_path: Any,
    *,
    name: str,
    version: str,
    sample: Any = None,
    framework: str | None = None,
    out: Path | str = Path("bundles"),
    optimize: GraphLevel | Literal["transformer"] = "none",
    quantize: Quantization | None = None,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
    int8_tolerances: Tolerances = INT8_TOLERANCES,
    metadata: Mapping[str, str] | None = None,
    force: bool = False,
    on_step: Callable[[str], None] | None = None,
    registry: ConverterRegistry | None = None,
    task: str | None = None,
    tokenizer: Any = None,
    text_tolerances: TextTolerances = DEFAULT_TEXT_TOLERANCES,
    int8_text_tolerances: TextTolerances = INT8_TEXT_TOLERANCES,
) -> PackageResult:
    """Convert ``model_or_path`` to ONNX, check parity, optimize if asked, and write the bundle.

    ``sample`` may be a ``.npy``/``.npz``/``.csv`` path, an array, a dict of arrays, a tuple of
    arrays/tensors or a DataFrame; None generates one where the signature allows it.
    Text models (a transformers / sentence-transformers folder, or a model object with ``tokenizer=``)
    take ``task`` (None detects it), texts as the sample (a list, a ``.txt``/``.jsonl`` path, None for a
    built-in set), ``optimize="transformer"`` and cosine/ranking gates (``text_tolerances``).
    Raises PackagingError (fixable input problem), BundleError (writing) or ParityError.
    """
    step = on_step or (lambda _message: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    out = Path(out)
    _validate(name, version, metadata, optimize, quantize)
    paths = bundle_paths(out, name, version)
    _check_target(out, paths, force)

    step("loading model")
    if isinstance(sample, str | Path) and not is_text_sample_file(sample):
        sample = load_sample_file(Path(sample))
    resolved = (registry or default_registry()).resolve(model_or_path, framework)
    if not isinstance(resolved.converter, TransformersTextConverter) and (
        task is not None or tokenizer is not None or optimize == "transformer"
    ):
        raise InvalidRequestError(
            "task, tokenizer and optimize='transformer' are for text models (transformers folders and objects)"
        )
    step(f"converting with {resolved.converter.name}")
    conversion = resolved.converter.convert(resolved.model, sample, ConvertOptions(task=task, tokenizer=tokenizer))
    model = normalize_model(conversion.model, name)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ConversionError(f"the converted model fails onnx.checker: {exc}") from None
    if model.ByteSize() > _ONNX_LIMIT:
        raise ConversionError("the converted model is over 2 GB; maaskit bundles hold single-file models only")
    model_bytes = model.SerializeToString()
    timings["convert_s"] = time.perf_counter() - started

    notes = list(conversion.notes)
    if isinstance(conversion, TextConversion):
        step("checking parity from raw text")
        gated = gate_text(
            conversion,
            model_bytes,
            graph_level=optimize,
            quantization=quantize or "none",
            gates=TextGates(tolerances, int8_tolerances, text_tolerances, int8_text_tolerances),
            notes=notes,
            max_rows=MAX_STORED_ROWS,
        )
    else:
        gated = _gate_tensor(
            conversion,
            model_bytes,
            optimize=optimize,
            quantize=quantize,
            gates=(tolerances, int8_tolerances),
            notes=notes,
            step=step,
        )
    parity, final_bytes, optimization = gated.parity, gated.model_bytes, gated.optimization
    timings["parity_s"] = time.perf_counter() - started - timings["convert_s"]
    final_model = onnx.load_from_string(final_bytes) if optimization else model
    inputs, outputs = graph_specs(final_model)

    model_path = Path(model_or_path) if isinstance(model_or_path, str | Path) else None
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
        files=placeholder_files(conversion),  # filled by write_bundle
        provenance=detect_provenance(_maaskit_version(), resolved.source),
        metadata=dict(metadata or {}),
        **gated.manifest_fields,
    )
    if isinstance(conversion, TextConversion):  # already cut to the stored texts by the text gate
        stored_inputs, stored_outputs = gated.sample_inputs, gated.sample_outputs
    else:
        stored_inputs, stored_outputs = _stored_samples(
            final_bytes, gated.sample_inputs, gated.sample_outputs, manifest
        )
    step("writing bundle")
    try:
        written = write_bundle(
            out,
            manifest,
            final_bytes,
            stored_inputs,
            stored_outputs,
            force=force,
            extra_files=conversion.files if isinstance(conversion, TextConversion) else None,
        )
    except OSError as exc:  # permission denied, disk full, read-only file system...
        raise InvalidRequestError(
            f"cannot write to {out}: {exc.strerror or exc}; free space there or choose another --out (nothing written)"
        ) from None
    timings["total_s"] = time.perf_counter() - started
    final = Manifest.model_validate_json((written.directory / "manifest.json").read_bytes())
    return PackageResult(written.directory, written.archive, final, notes, timings)
