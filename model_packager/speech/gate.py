"""The speech parity gate: the exported graphs against transformers, from audio files.

Every sample is decoded once by :func:`bundle.processing.audio.decode_audio` (what serving does); then
transformers' feature extractor and model give the reference, and the bundle's own path (numpy features,
onnxruntime graphs, the shared decoders of :mod:`bundle.processing`) must agree:

* features (Whisper): numpy log-mel against ``WhisperFeatureExtractor``;
* model outputs: CTC logits, or Whisper's encoder output and the decoder's logits teacher-forced through
  the cache on transformers' own greedy tokens;
* transcripts: the greedy transcript against transformers' (``generate`` for Whisper, without and with
  timestamps; argmax + ``batch_decode`` for CTC), judged by :func:`bundle.parity_speech.reproduces_speech`.

Sample files are at most 30 s long (transformers' short-form decoding is the reference).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bundle.parity_speech import reproduces_speech
from bundle.processing.audio import decode_audio
from bundle.processing.ctc import CTCDecoder, chunk_logits
from bundle.processing.whisper import WhisperDecoder
from bundle.speech import SpeechParity
from model_packager.job import InvalidRequestError
from model_packager.speech.source import SpeechSource

__all__ = ["FEATURE_TOLERANCE", "GateResult", "run_gate"]

FEATURE_TOLERANCE = 5e-4
#: Model outputs: absolute difference allowed per unit of the reference's largest magnitude.
RELATIVE_TOLERANCE = 1e-4
#: CTC logits: the difference also allowed, per unit of transformers' own float32 rounding error on the same
#: file (its float32 logits against its float64 ones). Frames of digital silence make the feature encoder's
#: output nearly constant, and the layer norm after it (HuBERT's feature projection) amplifies any rounding
#: there: measured on tiny HuBERT models, torch's own float32 logits were 7e-4 to 4e-3 off its float64 ones
#: on such files, onnxruntime's 1-14x that; on files without silence both stay near 5e-5.
ROUNDING_FACTOR = 32.0


@dataclass
class GateResult:
    """The gate's figures and the transcripts the samples store."""

    parity: SpeechParity
    transcripts: list[str]
    problems: list[str]


def _ort(path: Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _tolerance(reference: np.ndarray) -> float:
    return RELATIVE_TOLERANCE * max(1.0, float(np.abs(reference).max()))


def _rounding(model: Any, values: Any, reference: np.ndarray) -> float:
    """transformers' own float32 rounding error on ``values``: its float32 logits against its float64 ones."""
    import torch

    try:
        model.double()
        with torch.no_grad():
            exact = model(input_values=values.double()).logits.numpy()[0]
    finally:
        model.float()  # float32 -> float64 -> float32 gives the very weights back
    return float(np.abs(reference.astype(np.float64) - exact).max())


def _ctc(
    source: SpeechSource, model_path: Path, audios: list[np.ndarray]
) -> tuple[dict[str, Any], list[str], list[str]]:
    import torch

    session, spec = _ort(model_path), source.ctc
    assert spec is not None
    decoder = CTCDecoder({str(k): int(v) for k, v in source.processor.tokenizer.get_vocab().items()}, spec)
    worst = tolerance = 0.0
    expected, actual = [], []
    for audio in audios:
        inputs = source.processor.feature_extractor(audio, sampling_rate=source.rate, return_tensors="pt")
        with torch.no_grad():
            reference = source.model(input_values=inputs.input_values).logits.numpy()[0]
        rounding = _rounding(source.model, inputs.input_values, reference)
        ours = chunk_logits(
            audio,
            source.rate,
            spec,
            lambda v: session.run(None, {"input_values": v})[0],
            normalize_input=source.features.normalize,
        )
        if ours.shape == reference.shape:
            allowed = max(_tolerance(reference), ROUNDING_FACTOR * rounding)
            worst, tolerance = max(worst, float(np.abs(ours - reference).max())), max(tolerance, allowed)
        expected.append(source.processor.tokenizer.decode(reference.argmax(-1).tolist()))
        actual.append(decoder.decode(ours.argmax(-1)))
    return {"output_max_abs": worst, "output_tolerance": tolerance}, expected, actual


def _whisper(
    source: SpeechSource, decoder: WhisperDecoder, encoder_session: Any, audios: list[np.ndarray]
) -> tuple[dict[str, Any], list[str], list[str]]:
    import torch

    model, extractor, tokenizer, spec = (
        source.model,
        source.processor.feature_extractor,
        source.processor.tokenizer,
        decoder.spec,
    )
    figures = {
        "feature_max_abs": 0.0,
        "output_max_abs": 0.0,
        "output_tolerance": 0.0,
        "decoder_logits_max_abs": 0.0,
        "decoder_logits_tolerance": 0.0,
    }
    expected, actual = [], []
    options = {"task": "transcribe"} if spec.multilingual else {}
    for audio in audios:
        features = extractor(audio, sampling_rate=source.rate, return_tensors="pt").input_features
        ours = decoder.features_of(audio)
        figures["feature_max_abs"] = max(figures["feature_max_abs"], float(np.abs(ours - features.numpy()).max()))
        outputs = encoder_session.run(None, {"input_features": features.numpy()})
        with torch.no_grad():
            hidden = model.model.encoder(features).last_hidden_state.numpy()
        figures["output_max_abs"] = max(figures["output_max_abs"], float(np.abs(outputs[0] - hidden).max()))
        figures["output_tolerance"] = max(figures["output_tolerance"], _tolerance(hidden))
        for timestamps in (False, True):
            prompt, _ = decoder.prompt(outputs[1:], None, "transcribe", timestamps)
            with torch.no_grad():
                answer = model.generate(
                    features,
                    return_timestamps=timestamps,
                    max_new_tokens=spec.max_new_tokens,
                    return_dict_in_generate=True,
                    **options,
                )
            sequence = [int(t) for t in answer["sequences"][0].tolist()]
            reference = sequence[len(prompt) :] if sequence[: len(prompt)] == prompt else sequence
            _teacher_forced(model, decoder, features, outputs[1:], prompt + reference, figures)
            generated = decoder.greedy(outputs[1:], prompt, timestamps, spec.max_new_tokens)
            expected.append(tokenizer.decode(reference, skip_special_tokens=True).strip())
            actual.append(decoder.text(generated).strip())
            if reference != generated:
                actual[-1] += f" [token ids differ at {_first_difference(reference, generated)}]"
    return figures, expected, actual


def _first_difference(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def _teacher_forced(  # noqa: PLR0917
    model: Any,
    decoder: WhisperDecoder,
    features: Any,
    cross: list[np.ndarray],
    sequence: list[int],
    figures: dict[str, Any],
) -> None:
    import torch

    with torch.no_grad():
        reference = model(input_features=features, decoder_input_ids=torch.tensor([sequence])).logits.numpy()[0]
    logits, past = [], None
    for start, stop in ((0, min(4, len(sequence))), *((i, i + 1) for i in range(min(4, len(sequence)), len(sequence)))):
        last, past = decoder._step(sequence[start:stop], past, cross)
        logits.append(last)
    ours = np.stack(logits)
    rows = [min(4, len(sequence)) - 1, *range(min(4, len(sequence)), len(sequence))]
    figures["decoder_logits_max_abs"] = max(
        figures["decoder_logits_max_abs"], float(np.abs(ours - reference[rows]).max())
    )
    figures["decoder_logits_tolerance"] = max(figures["decoder_logits_tolerance"], _tolerance(reference))


def run_gate(
    source: SpeechSource,
    files: list[bytes],
    model_path: Path,
    decoder: WhisperDecoder | None,
    *,
    synthetic: bool,
    max_word_error_rate: float = 0.0,
) -> GateResult:
    """Measure the bundle's path against transformers on ``files``; ``decoder`` for Whisper bundles.

    ``max_word_error_rate`` 0 (fp32): transcripts (and Whisper's tokens) must be equal and the outputs within
    tolerance. Above 0 (int8): the outputs' differences are recorded, the transcripts judged by the bound.
    """
    audios = [decode_audio(data, source.rate).samples for data in files]
    for index, audio in enumerate(audios):
        if len(audio) > source.rate * 30:
            raise InvalidRequestError(
                f"sample {index} lasts {len(audio) / source.rate:.1f} s: the gate compares short-form decoding with "
                "transformers, so keep each sample file at most 30 s long (cut longer recordings)"
            )
    if source.kind == "ctc":
        figures, expected, actual = _ctc(source, model_path, audios)
    else:
        assert decoder is not None
        figures, expected, actual = _whisper(source, decoder, _ort(model_path), audios)
    if max_word_error_rate > 0.0:
        actual = [text.split(" [token ids differ at ")[0] for text in actual]
    verdict = reproduces_speech(expected, actual, max_word_error_rate=max_word_error_rate)
    problems = list(verdict.problems)
    for name, limit in (
        ("feature_max_abs", "feature_tolerance"),
        ("output_max_abs", "output_tolerance"),
        ("decoder_logits_max_abs", "decoder_logits_tolerance"),
    ):
        if name == "feature_max_abs" and name in figures:
            figures[limit] = FEATURE_TOLERANCE
        if name in figures and figures[name] > figures[limit] and max_word_error_rate == 0.0:
            problems.append(f"{name} {figures[name]:.3g} over {figures[limit]:.3g}")
    parity = SpeechParity(
        samples=len(files),
        synthetic=synthetic,
        transcript_agreement=verdict.agreement,
        word_error_rate=verdict.word_error_rate,
        max_word_error_rate=max_word_error_rate,
        passed=not problems,
        **figures,
    )
    transcripts = expected[::2] if source.kind == "whisper" else expected
    return GateResult(parity, transcripts, problems)
