"""``package()``: convert a trained model, gate it on parity, write a versioned bundle.

The same function backs ``maaskit package``; training scripts call it directly::

    from model_packager import package
    result = package(pipeline, name="churn", version="1.2.0", sample=X_test[:16])

Tensor models go through :mod:`model_packager.tensor_finish` (staged on disk, external data when
large); text and image models through :mod:`model_packager.processed_finish` (parity from raw texts or
image files, processing files in the bundle).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from bundle import NAME_PATTERN, SEMVER_PATTERN
from bundle.writer import BundlePaths, bundle_paths
from model_packager.converters.base import ConvertOptions
from model_packager.converters.image import ImageClassificationConverter, ImageConversion
from model_packager.converters.registry import ConverterRegistry, default_registry
from model_packager.converters.transformers_text import TextConversion, TransformersTextConverter
from model_packager.generative import package_text_generation, wants_text_generation
from model_packager.image_samples import is_image_sample
from model_packager.job import (
    MAX_STORED_ROWS,
    MEASURE_ABOVE_BYTES,
    InvalidRequestError,
    Job,
    PackageResult,
    work_folder,
)
from model_packager.optimize import GraphLevel, Quantization
from model_packager.parity import DEFAULT_TOLERANCES, FP16_TOLERANCES, INT8_TOLERANCES, Tolerances
from model_packager.precision import PRECISIONS, Precision
from model_packager.processed_finish import finish_processed
from model_packager.resources import check_packaging_memory
from model_packager.samples import load_sample_file
from model_packager.tensor_finish import finish_tensor, stage
from model_packager.text_optimize import INT8_TEXT_TOLERANCES
from model_packager.text_package import DEFAULT_TEXT_TOLERANCES, TextTolerances
from model_packager.text_samples import is_text_sample_file

__all__ = ["MAX_STORED_ROWS", "MEASURE_ABOVE_BYTES", "InvalidRequestError", "PackageResult", "package"]


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
    if optimize not in {"none", "basic", "extended", "transformer"}:
        raise InvalidRequestError(
            f"optimize must be none, basic, extended (portable levels) or transformer (text models), not {optimize!r}"
        )
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
    labels: Sequence[str | int] | None = None,
    task: str | None = None,
    tokenizer: Any = None,
    text_tolerances: TextTolerances = DEFAULT_TEXT_TOLERANCES,
    int8_text_tolerances: TextTolerances = INT8_TEXT_TOLERANCES,
    precision: Precision = "fp32",
    fp16_tolerances: Tolerances = FP16_TOLERANCES,
    measure: bool | None = None,
    truncatable_embeddings: bool = False,
) -> PackageResult:
    """Convert ``model_or_path`` to ONNX, check parity, optimize if asked, and write the bundle.

    ``sample`` may be a ``.npy``/``.npz``/``.csv`` path, an array, a dict of arrays, a tuple of
    arrays/tensors or a DataFrame; None generates one where the signature allows it. ``labels`` names the
    classes of a PyTorch/Keras softmax or sigmoid output (else read from the model, else 0..k-1).
    Text models (a transformers / sentence-transformers folder, or a model object with ``tokenizer=``)
    take ``task`` (None detects it), texts as the sample (a list, a ``.txt``/``.jsonl`` path, None for a
    built-in set), ``optimize="transformer"`` and cosine/ranking gates (``text_tolerances``). Image
    models (a transformers image-classification folder, or ``ImageClassifier``) take image files.
    ``precision="fp16"`` converts a tensor model to half precision for GPU targets (float32 inputs and
    outputs kept), gated by ``fp16_tolerances``. Large models (over 512 MiB, and necessarily over
    2 GB) keep their weights as external data (``model.onnx.data``); a model too large for this
    machine's memory is refused first (ModelTooLargeError). ``measure`` records the resident memory and
    time to ready of the final model in a fresh onnxruntime process (``manifest.resources``, used to
    size Lambda); None measures models of MEASURE_ABOVE_BYTES or more only, so small bundles stay
    byte-reproducible. ``truncatable_embeddings`` declares a Matryoshka-trained embedding model, whose
    first k dimensions the OpenAI API may serve (``dimensions``). Raises PackagingError (fixable input
    problem), BundleError (writing) or ParityError.
    """
    step = on_step or (lambda _message: None)
    started = time.perf_counter()
    out = Path(out)
    if wants_text_generation(model_or_path, task):  # causal LMs: onnxruntime-genai's builder and generation gate
        return package_text_generation(model_or_path, name=name, version=version, out=out, sample=sample,
                                       quantize=quantize, precision=precision, optimize=optimize, tokenizer=tokenizer,
                                       metadata=metadata, force=force, on_step=on_step)  # fmt: skip
    from model_packager.speech import package_speech, wants_speech

    if wants_speech(model_or_path, task):  # Whisper and CTC folders: torch.onnx export and the speech gate
        return package_speech(model_or_path, name=name, version=version, out=out, sample=sample, quantize=quantize,
                              precision=precision, optimize=optimize, processor=tokenizer, metadata=metadata,
                              force=force, on_step=on_step, task=task)  # fmt: skip
    _validate(name, version, metadata, optimize, quantize, precision=precision)
    paths = bundle_paths(out, name, version)
    _check_target(out, paths, force)
    check_packaging_memory(model_or_path)

    step("loading model")
    if isinstance(sample, str | Path) and not is_text_sample_file(sample) and not is_image_sample(sample):
        sample = load_sample_file(Path(sample))
    resolved = (registry or default_registry()).resolve(model_or_path, framework)
    is_image_model = isinstance(resolved.converter, ImageClassificationConverter)
    if not isinstance(resolved.converter, TransformersTextConverter) and (
        tokenizer is not None
        or optimize == "transformer"
        or truncatable_embeddings
        or (task is not None and not is_image_model)
    ):
        raise InvalidRequestError(
            "task, tokenizer, truncatable embeddings and optimize='transformer' are for text models "
            "(transformers folders and objects); "
            "image models take task image-classification only"
        )
    step(f"converting with {resolved.converter.name}")
    conversion = resolved.converter.convert(
        resolved.model,
        sample,
        ConvertOptions(labels=labels, task=task, tokenizer=tokenizer, truncatable_embeddings=truncatable_embeddings),
    )
    if truncatable_embeddings and getattr(conversion, "embedding", None) is None:
        raise InvalidRequestError(
            f"truncatable embeddings are for feature-extraction models; this one packages as {conversion.task}: "
            "drop --truncatable-embeddings"
        )
    job = Job(
        name, version, out, optimize, quantize, precision, tolerances, int8_tolerances, fp16_tolerances,
        text_tolerances, int8_text_tolerances, metadata, force, step, measure,
    )  # fmt: skip
    model_path = Path(model_or_path) if isinstance(model_or_path, str | Path) else None
    with work_folder(_existing_parent(out), name) as workdir:
        staged = stage(conversion, workdir, name, out)
        if isinstance(conversion, TextConversion | ImageConversion):
            return finish_processed(job, conversion, staged, source=resolved.source, model_path=model_path,
                                    started=started)  # fmt: skip
        return finish_tensor(
            job, conversion, staged, source=resolved.source, model_path=model_path, workdir=workdir, started=started
        )
