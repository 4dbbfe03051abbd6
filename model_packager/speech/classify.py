"""``package(..., task="audio-classification")``: a wav2vec2 / HuBERT / WavLM audio classifier becomes a gated bundle.

The folder's ``config.json`` names a ``*ForSequenceClassification`` (or ``*ForAudioClassification``)
architecture of a waveform model (what ``AutoModelForAudioClassification`` loads; the Hugging Face
audio-classification pipeline runs it). The graph is exported by torch.onnx (the TorchScript exporter,
opset 17, batch and time dynamic): ``input_values`` [batch, samples] -> ``logits``, softmax ``scores``
[batch, labels] and the top ``label`` index. The labels are the config's ``id2label``.

The gate (:mod:`model_packager.speech.classify_gate`) runs on each sample file (``--sample DIR``, else
the built-in synthetic audio, said so), decoded as serving decodes it: the bundle's waveform against the
feature extractor's ``input_values``, then the graph's logits, scores and label against transformers' by
the bundle's one element-wise rule with label agreement. The samples are tensors (one batch of the
extractor's values and transformers' outputs for it); the one judge (:func:`bundle.judge.judge`) checks
them in ``verify``, warm-up and the pre-traffic hook.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bundle.manifest import Manifest
from bundle.speech import AUDIO_CLASSIFICATION_TASK, FeatureSpec, SpeechParity, SpeechSpec
from bundle.tolerances import DEFAULT_TOLERANCES, Tolerances
from bundle.writer import write_bundle
from model_packager.job import InvalidRequestError, PackageResult, work_folder
from model_packager.parity import ParityError
from model_packager.speech.classify_gate import (
    AUDIO_CLASSIFIER_MAX_SECONDS,
    WAVEFORM_ATOL,
    ClassifierSource,
    run_classifier_gate,
)
from model_packager.speech.common import exported_fields, packaged
from model_packager.speech.samples import load_audio_samples

__all__ = [
    "AUDIO_CLASSIFIER_MAX_SECONDS",
    "WAVEFORM_MODEL_TYPES",
    "audio_classifier_architecture",
    "package_audio_classifier_folder",
]

#: ``model_type`` of the waveform models whose audio classifiers package (``input_values`` in, one graph).
WAVEFORM_MODEL_TYPES = frozenset(
    {
        "wav2vec2",
        "hubert",
        "wavlm",
        "data2vec-audio",
        "unispeech",
        "unispeech-sat",
        "sew",
        "sew-d",
        "wav2vec2-conformer",
    }
)
#: Audio classifiers whose features are not the waveform: refused with a message, not served wrongly.
_UNSUPPORTED = {
    "audio-spectrogram-transformer": "AST computes Kaldi filter-bank features, which the bundle does not reproduce yet",
    "whisper": "WhisperForAudioClassification takes Whisper's log-mel window, which its classifier path lacks",
    "wav2vec2-bert": "Wav2Vec2-BERT takes SeamlessM4T filter-bank features, which the bundle does not reproduce yet",
}
OPSET = 17
_HINT = "install the speech and text extras: pip install 'maaskit[text,speech]'"


def _config(model_or_path: Any) -> tuple[list[str], str]:
    if isinstance(model_or_path, str | Path):
        config = Path(model_or_path) / "config.json"
        if not config.is_file():
            return [], ""
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return [], ""
        return [str(a) for a in data.get("architectures") or []], str(data.get("model_type") or "")
    settings = getattr(model_or_path, "config", None)
    return [str(a) for a in getattr(settings, "architectures", None) or []], str(getattr(settings, "model_type", ""))


def _is_classifier(architecture: str) -> bool:
    return architecture.endswith(("ForSequenceClassification", "ForAudioClassification"))


def audio_classifier_architecture(model_or_path: Any) -> str | None:
    """The audio-classification architecture a folder's ``config.json`` (or a model's config) names, else None.

    Waveform models only (:data:`WAVEFORM_MODEL_TYPES`) and those refused with a reason (AST): a text
    ``BertForSequenceClassification`` is not one.
    """
    architectures, model_type = _config(model_or_path)
    if model_type not in WAVEFORM_MODEL_TYPES and model_type not in _UNSUPPORTED:
        return None
    return next((a for a in architectures if _is_classifier(a)), None)


def _load(path: Path) -> ClassifierSource:
    architecture = audio_classifier_architecture(path)
    _, model_type = _config(path)
    if architecture is None:
        raise InvalidRequestError(
            f"{path}/config.json names no audio classifier: audio-classification packages *ForSequenceClassification "
            f"folders of {', '.join(sorted(WAVEFORM_MODEL_TYPES))} models"
        )
    if model_type in _UNSUPPORTED:
        raise InvalidRequestError(f"{architecture} is not packaged yet: {_UNSUPPORTED[model_type]}")
    try:
        import transformers
    except ImportError:
        raise InvalidRequestError(f"packaging audio classifiers needs transformers and torch: {_HINT}") from None
    try:
        extractor = transformers.AutoFeatureExtractor.from_pretrained(str(path))
        model = transformers.AutoModelForAudioClassification.from_pretrained(str(path)).eval()
    except (OSError, ValueError) as exc:
        raise InvalidRequestError(
            f"{path} cannot be loaded as an audio classifier ({str(exc).strip().splitlines()[0][:200]}): it needs "
            "config.json, the weights and preprocessor_config.json as save_pretrained writes them"
        ) from None
    if int(getattr(extractor, "feature_size", 1)) != 1 or not hasattr(extractor, "do_normalize"):
        raise InvalidRequestError(
            f"{path}: the feature extractor {type(extractor).__name__} does not take the waveform as it is "
            "(a Wav2Vec2FeatureExtractor does): it is not packaged yet"
        )
    count = int(model.config.num_labels)
    id2label = {int(k): str(v) for k, v in (model.config.id2label or {}).items()}
    labels = [id2label.get(index, f"LABEL_{index}") for index in range(count)]
    features = FeatureSpec(
        kind="waveform", sampling_rate=int(extractor.sampling_rate), normalize=bool(extractor.do_normalize)
    )
    return ClassifierSource(architecture, str(model.config.model_type), model, extractor, labels, features)


def _export(model: Any, path: Path) -> None:
    """``input_values`` -> ``logits``, ``scores`` (softmax), ``label`` (argmax); batch and samples dynamic."""
    import warnings

    import torch

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_values: Any) -> tuple[Any, Any, Any]:
            logits = self.model(input_values=input_values).logits
            return logits, torch.softmax(logits, dim=-1), torch.argmax(logits, dim=-1)

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Classifier().eval(),
            (torch.randn(2, 16000),),
            str(path),
            dynamo=False,
            verbose=False,
            opset_version=OPSET,
            input_names=["input_values"],
            output_names=["logits", "scores", "label"],
            dynamic_axes={
                "input_values": {0: "batch", 1: "samples"},
                "logits": {0: "batch"},
                "scores": {0: "batch"},
                "label": {0: "batch"},
            },
        )


def package_audio_classifier_folder(
    path: Path,
    *,
    name: str,
    version: str,
    out: Path,
    sample: Any,
    metadata: Mapping[str, str] | None,
    force: bool,
    on_step: Callable[[str], None] | None,
    provenance: Any,
    created: str,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> PackageResult:
    """Export, gate and write one audio-classification bundle (see the module docstring); ParityError on failure."""
    step = on_step or (lambda _message: None)
    started = time.perf_counter()
    step("loading the audio classifier")
    source = _load(path)
    notes = [
        f"detected {source.architecture} ({len(source.labels)} labels from id2label): "
        "packaging for audio-classification"
    ]
    files, note = load_audio_samples(sample)
    notes += [note] if note else []
    out.mkdir(parents=True, exist_ok=True)
    with work_folder(out, name) as work:
        step("exporting with torch.onnx")
        _export(source.model, work / "model.onnx")
        exported = time.perf_counter()
        step("checking class probabilities against transformers")
        gate = run_classifier_gate(source, files, work / "model.onnx", tolerances)
        if gate.problems:
            raise ParityError("the audio-classification gate failed: " + "; ".join(gate.problems[:6]), gate.report,
                              "audio-classification")  # fmt: skip
        gated = time.perf_counter()

        scores = next(c for c in gate.report.checks if c.output == "scores" and c.metric == "max_abs_diff")
        parity = SpeechParity(
            samples=len(files),
            synthetic=sample is None,
            feature_max_abs=gate.waveform_max_abs,
            feature_tolerance=WAVEFORM_ATOL,
            output_max_abs=scores.measured,
            output_tolerance=scores.tolerance,
            transcript_agreement=gate.label_agreement,
            label_agreement=gate.label_agreement,
            word_error_rate=0.0,
            max_word_error_rate=0.0,
            passed=True,
        )
        speech = SpeechSpec(
            architecture=source.architecture,
            model_type=source.model_type,
            kind="classifier",
            features=source.features,
            max_audio_seconds=AUDIO_CLASSIFIER_MAX_SECONDS,
            parity=parity,
        )
        identity = exported_fields(work / "model.onnx", name=name, version=version, created=created,
                                 provenance=provenance, metadata=metadata)  # fmt: skip
        manifest = Manifest.model_validate(
            {
                **identity,
                "task": AUDIO_CLASSIFICATION_TASK,
                "labels": source.labels,
                "label_output": "label",
                "probability_output": "scores",
                "parity": gate.report,
                "speech": speech,
            }
        )
        extra = {}
        if (path / "preprocessor_config.json").is_file():
            extra["preprocessor_config.json"] = (path / "preprocessor_config.json").read_bytes()
        step("writing the bundle")
        paths = write_bundle(
            out, manifest, work / "model.onnx", gate.samples_in, gate.samples_out, force=force, extra_files=extra
        )
    return packaged(paths, notes, started, exported, gated)
