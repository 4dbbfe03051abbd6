"""From a converted text or image model to its bundle: the gate from raw texts or image files, the
processing files (tokenizer, preprocessor config) written beside the model."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import onnx

from bundle import Manifest
from bundle.judge import judge, local_runner, run_feed
from bundle.reference import reference_file
from bundle.samples import Samples
from bundle.writer import write_bundle
from model_packager.converters.image import ImageConversion
from model_packager.converters.transformers_text import TextConversion
from model_packager.image_package import gate_image, image_files
from model_packager.job import MAX_STORED_ROWS, InvalidRequestError, Job, PackageResult, bundle_manifest, write_result
from model_packager.model_files import StagedModel
from model_packager.parity import ParityError
from model_packager.text_optimize import TextGates
from model_packager.text_package import gate_text, placeholder_files, text_inputs

__all__ = ["finish_processed"]


def _recheck(manifest: Manifest, model: bytes, samples: Samples, files: dict[str, bytes]) -> None:
    """The stored samples must pass the very judgement ``verify``, warm-up and the hook will make."""
    with tempfile.TemporaryDirectory(prefix="maaskit-recheck-") as tmp:
        root = Path(tmp)
        for name, data in files.items():
            (root / name).write_bytes(data)
        verdict = judge(manifest, root, samples, local_runner(manifest, root, run_feed(model)))
    if not verdict.passed:
        raise ParityError(
            "the samples kept in samples.npz do not reproduce from their raw inputs, so verify and serve would "
            "refuse the bundle: " + "; ".join(verdict.problems),
            verdict.report,
            "stored samples",
        )


def finish_processed(
    job: Job, conversion: TextConversion | ImageConversion, staged: StagedModel, *, source: str | None,
    model_path: Path | None, started: float,
) -> PackageResult:  # fmt: skip
    """Gate a text or image model from its raw inputs and write it with its processing files."""
    kind = "text" if isinstance(conversion, TextConversion) else "image"
    if staged.data is not None:
        raise InvalidRequestError(
            f"{kind} models with weights over the external-data size are not supported yet; "
            "export the model yourself and package the .onnx file"
        )
    if job.precision != "fp32":
        raise InvalidRequestError(f"--precision fp16 is for tensor models; package {kind} models in fp32")
    timings: dict[str, float] = {"convert_s": time.perf_counter() - started}
    model_bytes = staged.path.read_bytes()
    notes = list(conversion.notes)
    if isinstance(conversion, TextConversion):
        job.step("checking parity from raw text")
        gated = gate_text(
            conversion,
            model_bytes,
            graph_level=job.optimize,
            quantization=job.quantize or "none",
            gates=TextGates(job.tolerances, job.int8_tolerances, job.text_tolerances, job.int8_text_tolerances),
            notes=notes,
            max_rows=MAX_STORED_ROWS,
        )
        files = placeholder_files(conversion)
    else:
        gated = gate_image(
            conversion,
            model_bytes,
            graph_level=job.optimize,
            quantization=job.quantize or "none",
            gates=(job.tolerances, job.int8_tolerances),
            notes=notes,
            step=job.step,
        )
        files = image_files(conversion)
    timings["parity_s"] = time.perf_counter() - started - timings["convert_s"]
    final_model = onnx.load_from_string(gated.model_bytes)
    manifest = bundle_manifest(
        job, conversion, final_model, parity=gated.parity, optimization=gated.optimization, files=files,
        source=source, model_path=model_path, **gated.manifest_fields,
    )  # fmt: skip
    _recheck(manifest, gated.model_bytes, Samples(gated.sample_inputs, gated.sample_outputs), conversion.files)
    extra_files = dict(conversion.files)
    if isinstance(conversion, TextConversion):  # the reference statistics of every sample text, not only those stored
        extra_files |= reference_file(manifest, text_inputs(conversion.texts), conversion.expected, conversion.files)
    result = write_result(
        job,
        manifest,
        lambda: write_bundle(
            job.out,
            manifest,
            gated.model_bytes,
            gated.sample_inputs,
            gated.sample_outputs,
            force=job.force,
            extra_files=extra_files,
        ),
        notes,
        timings,
    )
    timings["total_s"] = time.perf_counter() - started
    return result
