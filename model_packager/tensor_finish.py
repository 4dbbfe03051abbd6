"""From a converted tensor model to its bundle: staged on disk (external data when large), parity,
optimizations, stored samples, resources, written. No model is held in memory twice."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import onnx

from bundle import MODEL_DATA_FILE, SAMPLES_FILE, Manifest
from bundle.judge import judge
from bundle.parity import OutputMismatchError, align_expected, reproduces
from bundle.reference import reference_file
from bundle.samples import Samples, samples_bytes
from bundle.writer import write_bundle
from model_packager.converters.base import Conversion, ConversionError
from model_packager.job import (
    MAX_STORED_ROWS,
    MEASURE_ABOVE_BYTES,
    InvalidRequestError,
    Job,
    PackageResult,
    bundle_manifest,
    write_result,
)
from model_packager.model_files import StagedModel, check_staged, stage_model
from model_packager.optimize import apply_optimizations
from model_packager.parity import ParityError, run_onnx
from model_packager.resources import measure_resources
from model_packager.signature import normalize_model
from model_packager.text_package import placeholder_files

__all__ = ["finish_tensor", "stage"]


def stage(conversion: Conversion, workdir: Path, name: str, out: Path) -> StagedModel:
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
        raise InvalidRequestError(
            f"cannot write to {out}: {exc.strerror or exc}; free space there or choose another --out (nothing written)"
        ) from None
    finally:
        if conversion.external_data_temporary and conversion.external_data_dir is not None:
            shutil.rmtree(conversion.external_data_dir, ignore_errors=True)
    conversion.model = onnx.ModelProto()  # the weights are on disk now: let the protobuf go
    check_staged(staged)
    return staged


def _stored(arrays: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    return {k: (v[:MAX_STORED_ROWS] if v.ndim and v.shape[0] == rows else v) for k, v in arrays.items()}


def _aligned(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    try:
        return align_expected(expected, actual)
    except OutputMismatchError as exc:
        raise ConversionError(f"{exc} (onnxruntime versus the original model)") from None


def _stored_samples(
    model: bytes | Path, feed: dict[str, np.ndarray], expected: dict[str, np.ndarray], manifest: Manifest
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The rows kept in samples.npz; they must pass the very check ``verify`` and the runtime's warm-up make.

    Parity was measured on every sample row; a label agreement that passed there can fall below its
    minimum on the stored subset (one flip in 64 rows is 98.4%), and such a bundle would be refused at load.
    """
    measured = manifest.parity.sample_count
    inputs, outputs = _stored(feed, measured), _stored(expected, measured)
    if measured <= MAX_STORED_ROWS:
        return inputs, outputs  # every measured row is stored: the gate already judged exactly these samples
    verdict = judge(manifest, None, Samples(inputs, outputs), lambda raw: run_onnx(model, raw.tensors))
    report, failures = verdict.report, verdict.problems
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


def _nonfinite(inputs: dict[str, np.ndarray]) -> bool:
    """True when a float sample input holds NaN or an infinity (an imputer's input): the model takes them."""
    return any(array.dtype.kind == "f" and not np.isfinite(array).all() for array in inputs.values())


def finish_tensor(
    job: Job, conversion: Conversion, staged: StagedModel, *, source: str | None, model_path: Path | None,
    workdir: Path, started: float,
) -> PackageResult:  # fmt: skip
    """Parity, optimizations, samples and resources of a tensor model; the bundle written from files."""
    step = job.step
    timings: dict[str, float] = {"convert_s": time.perf_counter() - started}
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
        graph_level=job.optimize,  # type: ignore[arg-type]  # "transformer" is refused for tensor models
        quantization=job.quantize or "none",
        tolerances=job.tolerances,
        int8_tolerances=job.int8_tolerances,
        label_output=conversion.label_output,
        precision=job.precision,
        fp16_tolerances=job.fp16_tolerances,
        workdir=workdir,
    )
    final_model = final.graph()

    notes = list(conversion.notes)
    rows = parity.sample_count
    if rows > MAX_STORED_ROWS:
        notes.append(f"parity measured on {rows} rows; samples.npz keeps the first {MAX_STORED_ROWS}")
    if final.data is not None:
        notes.append(f"weights stored as ONNX external data ({MODEL_DATA_FILE}) beside model.onnx: a large model")
    if job.precision == "fp16":
        notes.append("fp16 parity was checked on the CPU provider (no GPU here); inputs and outputs stay float32")
    placeholder = placeholder_files(conversion)  # model.onnx: filled by write_bundle
    manifest = bundle_manifest(
        job, conversion, final_model, parity=parity, optimization=optimization, files=placeholder, source=source,
        model_path=model_path,
    )  # fmt: skip
    if _nonfinite(conversion.inputs):
        manifest = manifest.model_copy(update={"nonfinite_inputs": True})
        notes.append("the samples hold NaN or infinite inputs: the served model takes them (nonfinite_inputs)")
    stored_inputs, stored_outputs = _stored_samples(final.path, conversion.inputs, expected, manifest)
    if job.measure or (job.measure is None and final.size >= MEASURE_ABOVE_BYTES):
        step("measuring memory and time to ready in a fresh onnxruntime process")
        probe_samples = workdir / SAMPLES_FILE
        probe_samples.write_bytes(samples_bytes(stored_inputs, stored_outputs))
        resources = measure_resources(final.path, probe_samples)
        timings["measure_s"] = time.perf_counter() - started - sum(timings.values())
        manifest = manifest.model_copy(update={"resources": resources})
    reference = reference_file(manifest, conversion.inputs, expected, {})  # every sample row, not only those stored
    result = write_result(
        job,
        manifest,
        lambda: write_bundle(
            job.out,
            manifest,
            final.path,
            stored_inputs,
            stored_outputs,
            force=job.force,
            data_files=final.data_files,
            extra_files=reference,
        ),
        notes,
        timings,
    )
    timings["total_s"] = time.perf_counter() - started
    return result
