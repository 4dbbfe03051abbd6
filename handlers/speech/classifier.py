"""Audio classifiers (``task: audio-classification``): audio files in, ``[{"label", "score"}, ...]`` out.

The processor reads encoded audio files wherever a codec put them (:func:`~handlers.speech.inputs.audio_files`,
as the speech recognition processor does: a file body, ``{"b64": ...}``, base64 strings, OIP ``BYTES``),
decodes each with :func:`bundle.processing.audio.decode_audio` (limits from the header first; a corrupt or
empty file is a 400, m4a/mp4/webm without PyAV a 415, over the byte limit a 413) and normalises it as the
feature extractor does (:func:`bundle.processing.audio.normalize`, the code the packager's gate checked):

``input_values``  float32 [files, samples], zero-padded to the longest
``audio_length``  int64 [files], samples of each file

The runtime (:mod:`handlers.speech.classifier_runtime`) runs every file alone (padding would change a
model without an attention mask), as the Hugging Face pipeline does; a feed of ``input_values`` by name
(OIP ``FP32``, maaskit JSON; what the pre-traffic hook sends) runs as one batch. Answers: the pipeline's
``[{"label", "score"}, ...]`` best first (``top_k``, default 5; null for every label) per file on
SageMaker, TorchServe and maaskit JSON; the named outputs (``logits``, ``scores``, ``label``) for tensor
protocols, with OIP's classification extension.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bundle import Bundle, BundleError, Manifest
from bundle.limits import AUDIO_MAX_BYTES
from bundle.processing.audio import AudioError, decode_audio, normalize
from bundle.speech import SpeechSpec
from handlers.speech.inputs import audio_files
from handlers.speech.processor import audio_error
from handlers.tabular import score_labels_of, tensors_of
from handlers.text.answers import top_k_labels
from handlers.text.inputs import top_k_from
from handlers.validation import coerce_feed
from handlers.vocabulary import Answers, Embedder, ExampleFeed, Feed, Inputs, Outputs, Style

__all__ = ["AUDIO_TOP_K", "AudioClassifierProcessor"]

#: The Hugging Face audio-classification pipeline answers five labels.
AUDIO_TOP_K = 5
_INPUT = "input_values"
_LENGTH = "audio_length"


def _numeric(value: Any) -> bool:
    """A waveform tensor rather than files: numbers (an array or nested lists of them)."""
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "fiu"
    while isinstance(value, list | tuple) and value:
        value = value[0]
    return isinstance(value, int | float) and not isinstance(value, bool)


class AudioClassifierProcessor:
    """Audio files -> normalised waveforms; class scores -> the pipeline's best-first labels."""

    def __init__(self, bundle: Bundle) -> None:
        manifest = bundle.manifest
        if manifest.speech is None or manifest.speech.kind != "classifier" or not manifest.labels:
            raise BundleError(f"{bundle.root}: an audio classifier needs its speech section and labels; repackage it")
        self.manifest: Manifest = manifest
        self.spec: SpeechSpec = manifest.speech
        self.labels = [str(label) for label in manifest.labels]
        self.max_bytes = AUDIO_MAX_BYTES

    @property
    def bodies(self) -> frozenset[str]:
        """Audio file bodies (``audio/*``, or ``application/octet-stream``) besides JSON."""
        return frozenset({"audio"})

    @property
    def score_labels(self) -> Mapping[str, Sequence[str]]:
        """``scores`` are class probabilities, one per label (OIP's classification extension names them)."""
        return score_labels_of(self.manifest)

    @property
    def embedder(self) -> Embedder | None:
        """No embeddings."""
        return None

    def preprocess(self, inputs: Inputs) -> Feed:
        """Decode and normalise every file (limits first); ``input_values`` by name are only validated."""
        top_k_from(inputs.options, AUDIO_TOP_K)  # a bad top_k is refused before anything is decoded
        named = dict(inputs.named)
        if _INPUT in named or (len(named) == 1 and _numeric(next(iter(named.values())))):
            tensors, _ = tensors_of(self.manifest, inputs)
            return coerce_feed(self.manifest, tensors)
        files, single = audio_files(inputs)
        rate = self.spec.features.sampling_rate
        waves = []
        for data in files:
            try:
                samples = decode_audio(
                    data, rate, max_bytes=self.max_bytes, max_seconds=self.spec.max_audio_seconds
                ).samples
            except AudioError as error:
                raise audio_error(error) from None
            waves.append(normalize(samples) if self.spec.features.normalize else samples.astype(np.float32))
        values = np.zeros((len(waves), max(len(wave) for wave in waves)), dtype=np.float32)
        for index, wave in enumerate(waves):
            values[index, : len(wave)] = wave
        lengths = np.asarray([len(wave) for wave in waves], dtype=np.int64)
        seconds = float(lengths.sum()) / rate
        return ExampleFeed({_INPUT: values, _LENGTH: lengths}, raw=True, single=single, audio_seconds=seconds)

    def postprocess(self, feed: Feed, outputs: Outputs) -> Outputs:
        """The outputs unchanged: the softmax is inside the graph."""
        return outputs

    def answer(self, inputs: Inputs, feed: Feed, outputs: Outputs, style: Style) -> Answers:
        """Per file its best ``top_k`` ``{"label", "score"}`` (one file alone: its list); tensors as they are."""
        task = str(self.manifest.task)
        if style == "tensors":
            return Answers(outputs=outputs, primary="scores", task=task)
        scores = np.asarray(outputs["scores"])
        labels = [self.labels[int(index)] for index in np.asarray(outputs["label"]).reshape(-1)]
        ranked: Any = top_k_labels(scores, self.labels, top_k_from(inputs.options, AUDIO_TOP_K))
        if getattr(feed, "single", False) and len(ranked) == 1:
            ranked = ranked[0]
        return Answers(outputs=outputs, predictions=ranked, labels=labels, primary="scores", task=task)
