"""The entry from ``model_packager.api.package``: detection, option checks, a model object saved to a folder."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bundle.speech import AUDIO_CLASSIFICATION_TASK, SPEECH_TASK
from model_packager.job import InvalidRequestError, PackageResult
from model_packager.speech.classify import audio_classifier_architecture
from model_packager.speech.source import speech_architecture

__all__ = ["package_speech", "wants_speech"]


def wants_speech(model_or_path: Any, task: str | None) -> bool:
    """True for ``task="automatic-speech-recognition"`` or ``"audio-classification"``, or no task and a Whisper /
    ``*ForCTC`` / waveform audio classifier (``*ForSequenceClassification`` of wav2vec2, HuBERT, WavLM) folder or model.
    """
    if task is not None:
        return task in (SPEECH_TASK, AUDIO_CLASSIFICATION_TASK)
    return speech_architecture(model_or_path) is not None or audio_classifier_architecture(model_or_path) is not None


def _classifies(model_or_path: Any, task: str | None) -> bool:
    """The audio-classification path: asked, or detected without a task."""
    if task is not None:
        return task == AUDIO_CLASSIFICATION_TASK
    return speech_architecture(model_or_path) is None and audio_classifier_architecture(model_or_path) is not None


def package_speech(
    model_or_path: Any,
    *,
    name: str,
    version: str,
    out: Path | str,
    sample: Any = None,
    quantize: str | None = None,
    precision: str = "fp32",
    optimize: str = "none",
    processor: Any = None,
    metadata: Mapping[str, str] | None = None,
    force: bool = False,
    on_step: Callable[[str], None] | None = None,
    max_word_error_rate: float | None = None,
    task: str | None = None,
) -> PackageResult:
    """Package a speech folder, or a transformers model object with its ``processor``, for speech recognition
    (or, for ``task="audio-classification"`` and detected audio classifiers, for audio classification)."""
    from model_packager.speech.package import package_speech_folder

    if _classifies(model_or_path, task):
        return _package_classifier(model_or_path, name=name, version=version, out=out, sample=sample,
                                   quantize=quantize, precision=precision, optimize=optimize, processor=processor,
                                   metadata=metadata, force=force, on_step=on_step)  # fmt: skip
    if quantize not in (None, "none", "int8") or precision != "fp32" or optimize != "none":
        raise InvalidRequestError(
            "speech bundles are fp32, or int8 with --quantize int8 (CPU); fp16 and --optimize are not offered yet"
        )
    common = _checked(name=name, version=version, out=out, sample=sample, metadata=metadata, force=force,
                      on_step=on_step)  # fmt: skip
    common |= {"int8": quantize == "int8", "max_word_error_rate": max_word_error_rate}
    return _from_folder_or_object(
        model_or_path, processor, package_speech_folder, common,
        task=SPEECH_TASK, processor_kind="processor", recognised=speech_architecture(model_or_path) is not None,
        refusal="automatic-speech-recognition takes a Whisper or *ForCTC folder, or such a model with processor=",
    )  # fmt: skip


def _package_classifier(
    model_or_path: Any,
    *,
    name: str,
    version: str,
    out: Path | str,
    sample: Any,
    quantize: str | None,
    precision: str,
    optimize: str,
    processor: Any,
    metadata: Mapping[str, str] | None,
    force: bool,
    on_step: Callable[[str], None] | None,
) -> PackageResult:
    """An audio classifier folder, or a model object with its feature extractor (``processor``)."""
    from model_packager.speech.classify import package_audio_classifier_folder

    if quantize not in (None, "none") or precision != "fp32" or optimize != "none":
        raise InvalidRequestError(
            "audio-classification bundles are fp32: --quantize, fp16 and --optimize are not offered"
        )
    common = _checked(name=name, version=version, out=out, sample=sample, metadata=metadata, force=force,
                      on_step=on_step)  # fmt: skip
    return _from_folder_or_object(
        model_or_path, processor, package_audio_classifier_folder, common,
        task=AUDIO_CLASSIFICATION_TASK, processor_kind="feature extractor",
        recognised=audio_classifier_architecture(model_or_path) is not None,
        refusal="audio-classification takes a *ForSequenceClassification folder of a waveform model (wav2vec2, "
        "HuBERT, WavLM), or such a model with processor= (its feature extractor)",
    )  # fmt: skip


def _checked(
    *,
    name: str,
    version: str,
    out: Path | str,
    sample: Any,
    metadata: Mapping[str, str] | None,
    force: bool,
    on_step: Callable[[str], None] | None,
) -> dict[str, Any]:
    """The options every speech family's folder packager takes, checked (name, version, metadata, a free place)."""
    from bundle.writer import bundle_paths
    from model_packager.api import _check_target, _validate

    _validate(name, version, metadata, "none", None, precision="fp32")
    target = Path(out)
    _check_target(target, bundle_paths(target, name, version), force)
    return {"name": name, "version": version, "out": target, "sample": sample, "metadata": metadata, "force": force,
            "on_step": on_step}  # fmt: skip


def _from_folder_or_object(
    model_or_path: Any,
    processor: Any,
    package_folder: Callable[..., PackageResult],
    common: dict[str, Any],
    *,
    task: str,
    processor_kind: str,
    recognised: bool,
    refusal: str,
) -> PackageResult:
    """Package a save_pretrained folder as it is, or a model object (with its ``processor``) saved to one first."""
    from bundle.version import maaskit_version
    from model_packager.provenance import created_time, detect_provenance

    if isinstance(model_or_path, str | Path):
        path = Path(model_or_path)
        if not path.is_dir():
            raise InvalidRequestError(f"{path} is not a folder: {task} packages a save_pretrained folder")
        if processor is not None:
            raise InvalidRequestError(f"a folder carries its own {processor_kind}: drop processor=")
        provenance = detect_provenance(maaskit_version(), str(path))
        return package_folder(path, provenance=provenance, created=created_time(path), **common)
    if not recognised or processor is None:
        raise InvalidRequestError(refusal)
    with tempfile.TemporaryDirectory(prefix="maaskit-speech-") as tmp:
        model_or_path.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        generation = getattr(model_or_path, "generation_config", None)
        if generation is not None:
            generation.save_pretrained(tmp)
        provenance = detect_provenance(maaskit_version(), type(model_or_path).__name__)
        return package_folder(Path(tmp), provenance=provenance, created=created_time(None), **common)
