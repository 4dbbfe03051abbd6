"""The audio-classification gate: the bundle's waveform and class probabilities against transformers'.

On each sample file, decoded as serving decodes it: the waveform the bundle feeds against the feature
extractor's ``input_values`` (:data:`WAVEFORM_ATOL`), then the graph's logits, scores and label against
transformers' by the bundle's one element-wise rule (:func:`bundle.parity.reproduces`). The stored
samples are one batch of the extractor's values, cut to the shortest file (at most :data:`SAMPLE_SECONDS`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bundle.manifest import ParityReport
from bundle.parity import reproduces
from bundle.processing.audio import decode_audio, normalize
from bundle.speech import FeatureSpec
from bundle.tolerances import Tolerances
from model_packager.job import InvalidRequestError

__all__ = [
    "AUDIO_CLASSIFIER_MAX_SECONDS",
    "SAMPLE_SECONDS",
    "WAVEFORM_ATOL",
    "ClassifierGate",
    "ClassifierSource",
    "run_classifier_gate",
]

#: Largest difference between the bundle's waveform (decoded, normalised) and the feature extractor's.
WAVEFORM_ATOL = 1e-5
#: Stored sample tensors are cut to at most this many seconds (they travel in samples.npz as float32).
SAMPLE_SECONDS = 2.0
#: The longest recording one request classifies: the whole file goes through the graph at once
#: (self-attention over every frame), as the Hugging Face pipeline does.
AUDIO_CLASSIFIER_MAX_SECONDS = 60.0


@dataclass
class ClassifierSource:
    """A loaded audio classifier: its model, feature extractor, labels and feature settings."""

    architecture: str
    model_type: str
    model: Any
    extractor: Any
    labels: list[str]
    features: FeatureSpec


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
class ClassifierGate:
    """The gate's figures, its problems and the samples it stores."""

    report: ParityReport
    problems: list[str]
    waveform_max_abs: float
    label_agreement: float
    samples_in: dict[str, np.ndarray]
    samples_out: dict[str, np.ndarray]


def run_classifier_gate(
    source: ClassifierSource, files: list[bytes], model_path: Path, tolerances: Tolerances
) -> ClassifierGate:
    """The audio-classification gate on every sample file (see the module docstring)."""
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
    return ClassifierGate(report, problems, worst, agreement, {"input_values": batch}, stored)
