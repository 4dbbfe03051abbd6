"""``package(..., task="audio-classification")``: a wav2vec2 / HuBERT / WavLM audio classifier becomes a gated bundle.

The folder's ``config.json`` names a ``*ForSequenceClassification`` (or ``*ForAudioClassification``)
architecture of a waveform model (what ``AutoModelForAudioClassification`` loads; the Hugging Face
audio-classification pipeline runs it). The graph is exported by torch.onnx (the TorchScript exporter,
opset 17, batch and time dynamic): ``input_values`` [batch, samples] -> ``logits``, softmax ``scores``
[batch, labels] and the top ``label`` index. The labels are the config's ``id2label``.

The gate, on each sample file (``--sample DIR``, else the built-in synthetic audio, said so), decoded as
serving decodes it (:func:`bundle.processing.audio.decode_audio`):

* the waveform the bundle feeds (:func:`bundle.processing.audio.normalize` when the feature extractor
  normalises) against the feature extractor's ``input_values`` (:data:`WAVEFORM_ATOL`);
* the graph's logits and class probabilities on it against transformers' on the extractor's values:
  element-wise (``atol`` or ``rtol``, as tabular classifiers) with label agreement, by the bundle's one
  rule :func:`bundle.parity.reproduces`.

The samples are tensors: the extractor's values of every file, cut to the shortest (at most
:data:`SAMPLE_SECONDS`) so they form one batch, and transformers' outputs for that batch; the one judge
(:func:`bundle.judge.judge`) checks them with the element-wise rule in ``verify``, warm-up and the
pre-traffic hook.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bundle.manifest import Manifest, ParityReport, ToolInfo
from bundle.parity import reproduces
from bundle.processing.audio import decode_audio, normalize
from bundle.speech import AUDIO_CLASSIFICATION_TASK, FeatureSpec, SpeechParity, SpeechSpec
from bundle.tolerances import DEFAULT_TOLERANCES, Tolerances
from bundle.writer import write_bundle
from model_packager.job import InvalidRequestError, PackageResult, work_folder
from model_packager.parity import ParityError
from model_packager.signature import file_signature
from model_packager.speech.samples import load_audio_samples

__all__ = [
    "AUDIO_CLASSIFIER_MAX_SECONDS",
    "SAMPLE_SECONDS",
    "WAVEFORM_ATOL",
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
#: Largest difference between the bundle's waveform (decoded, normalised) and the feature extractor's.
WAVEFORM_ATOL = 1e-5
#: Stored sample tensors are cut to at most this many seconds (they travel in samples.npz as float32).
SAMPLE_SECONDS = 2.0
#: The longest recording one request classifies: the whole file goes through the graph at once
#: (self-attention over every frame), as the Hugging Face pipeline does.
AUDIO_CLASSIFIER_MAX_SECONDS = 60.0
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


@dataclass
class _Source:
    architecture: str
    model_type: str
    model: Any
    extractor: Any
    labels: list[str]
    features: FeatureSpec


def _load(path: Path) -> _Source:
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
    return _Source(architecture, str(model.config.model_type), model, extractor, labels, features)


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


def _reference(model: Any, values: np.ndarray) -> dict[str, np.ndarray]:
    """transformers' logits, softmax scores and top label for ``values`` [batch, samples]."""
    import torch

    with torch.no_grad():
        logits = model(input_values=torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))).logits
        return {
            "logits": logits.numpy(),
            "scores": torch.softmax(logits, dim=-1).numpy(),
            "label": torch.argmax(logits, dim=-1).numpy().astype(np.int64),
        }


def _session(path: Path) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]

    def run(values: np.ndarray) -> dict[str, np.ndarray]:
        results = session.run(names, {"input_values": np.ascontiguousarray(values, dtype=np.float32)})
        return {name: np.asarray(value) for name, value in zip(names, results, strict=True)}

    return run


@dataclass
class _Gate:
    report: ParityReport
    problems: list[str]
    waveform_max_abs: float
    label_agreement: float
    samples_in: dict[str, np.ndarray]
    samples_out: dict[str, np.ndarray]


def _gate(source: _Source, files: list[bytes], model_path: Path, tolerances: Tolerances) -> _Gate:
    rate = source.features.sampling_rate
    run = _session(model_path)
    reference_values, worst = [], 0.0
    actual: dict[str, list[np.ndarray]] = {"logits": [], "scores": [], "label": []}
    expected: dict[str, list[np.ndarray]] = {"logits": [], "scores": [], "label": []}
    for index, data in enumerate(files):
        audio = decode_audio(data, rate, max_seconds=AUDIO_CLASSIFIER_MAX_SECONDS).samples
        if len(audio) < rate // 10:
            raise InvalidRequestError(f"sample {index} lasts {len(audio) / rate:.2f} s: give files of at least 0.1 s")
        ref_values = np.asarray(source.extractor(audio, sampling_rate=rate).input_values[0], dtype=np.float32)
        ours = normalize(audio) if source.features.normalize else audio.astype(np.float32)
        worst = max(worst, float(np.abs(ours - ref_values).max()))
        reference_values.append(ref_values)
        for name, value in _reference(source.model, ref_values[None, :]).items():
            expected[name].append(value)
        for name, value in run(ours[None, :]).items():
            actual[name].append(value)
    got = {name: np.concatenate(values) for name, values in actual.items()}
    want = {name: np.concatenate(values) for name, values in expected.items()}
    report, problems = reproduces(got, want, tolerances, "label")
    agreement = float(np.mean(got["label"] == want["label"]))
    if worst > WAVEFORM_ATOL:
        problems.append(
            f"the bundle's waveform differs from the feature extractor's input_values by {worst:.3g} "
            f"(over {WAVEFORM_ATOL}): its settings are not reproduced"
        )
    # the stored samples: one batch of the extractor's values, cut to the shortest file
    width = min(*(len(v) for v in reference_values), int(SAMPLE_SECONDS * rate))
    batch = np.stack([values[:width] for values in reference_values]).astype(np.float32)
    stored = _reference(source.model, batch)
    _, stored_problems = reproduces(run(batch), stored, tolerances, "label")
    problems += [f"stored samples: {problem}" for problem in stored_problems]
    return _Gate(report, problems, worst, agreement, {"input_values": batch}, stored)


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
        gate = _gate(source, files, work / "model.onnx", tolerances)
        if gate.problems:
            raise ParityError("the audio-classification gate failed: " + "; ".join(gate.problems[:6]), gate.report,
                              "audio-classification")  # fmt: skip
        gated = time.perf_counter()
        import torch
        import transformers

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
        inputs, outputs, opsets = file_signature(work / "model.onnx")
        manifest = Manifest.model_validate(
            {
                "name": name,
                "version": version,
                "created": created,
                "framework": ToolInfo(name="transformers", version=transformers.__version__),
                "converter": ToolInfo(name="torch.onnx", version=torch.__version__.split("+")[0]),
                "opsets": opsets,
                "inputs": inputs,
                "outputs": outputs,
                "task": AUDIO_CLASSIFICATION_TASK,
                "labels": source.labels,
                "label_output": "label",
                "probability_output": "scores",
                "parity": gate.report,
                "files": {"model.onnx": {"sha256": "0" * 64, "size": 0}},
                "provenance": provenance,
                "metadata": dict(metadata or {}),
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
    from bundle import open_bundle

    written = open_bundle(paths.directory)
    timings = {"export_s": exported - started, "gate_s": gated - exported, "total_s": time.perf_counter() - started}
    return PackageResult(paths.directory, paths.archive, written.manifest, notes, timings)
