"""The speech family's processor: audio files in, transcripts out (``task: automatic-speech-recognition``).

What it reads from the neutral :class:`~handlers.vocabulary.Inputs`: encoded audio files wherever a codec
put them (:func:`~handlers.speech.inputs.audio_files`: a file body, ``{"b64": ...}``, base64 strings, OIP
``BYTES`` tensors) and the request's options (``language``, ``prompt``, ``timestamps`` or the Hugging Face
pipeline's ``return_timestamps``, ``task``, ``temperature``, and the pipeline's ``generate_kwargs`` with
``language``, ``task`` and ``temperature``). ``preprocess``
decodes every file (limits from the header first; a corrupt or empty file is a 400, an m4a/mp4/webm a
415, one over the byte limit a 413) and validates the options before anything runs; the feed it makes
is what :class:`~handlers.speech.runtime.SpeechRuntime` transcribes:

``audio``         float32 [files, samples], mono at the model's rate, zero-padded
``audio_length``  int64 [files], samples of each file
``options``       object [files], the validated options (JSON)

The runtime answers ``text`` (object [files]) and ``transcript`` (object [files]: JSON documents with
``text``, ``language``, ``duration`` and ``segments``). Answers: ``{"text": ...}`` per file (the Hugging
Face ASR pipeline's shape; with timestamps asked also its ``"chunks": [{"timestamp": [start, end], "text"}]``)
for ``predictions``, ``pipeline`` and ``handler``; the named outputs for tensors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bundle import Bundle
from bundle.limits import AUDIO_MAX_BYTES
from bundle.processing.audio import AudioError, decode_audio
from bundle.speech import SpeechSpec
from handlers.errors import InvalidInputError, PayloadTooLargeError, ServingError, UnsupportedMediaTypeError
from handlers.speech.formats import LANGUAGE_NAMES
from handlers.speech.inputs import audio_files
from handlers.vocabulary import Answers, Embedder, ExampleFeed, Feed, Inputs, Outputs, Style

__all__ = ["SpeechProcessor", "audio_error"]

_STATUS: dict[int, type[ServingError]] = {413: PayloadTooLargeError, 415: UnsupportedMediaTypeError}
_TASKS = ("transcribe", "translate")


def audio_error(error: AudioError) -> ServingError:
    """The serving error for an audio problem (its status: 400, 413 or 415)."""
    return _STATUS.get(error.status, InvalidInputError)(str(error))


def _timestamps(raw: Mapping[str, Any]) -> bool:
    """``timestamps`` or the pipeline's ``return_timestamps``: segments only (word times are refused)."""
    asked = raw.get("timestamps", raw.get("return_timestamps"))
    if asked == "word":
        raise InvalidInputError("word timestamps are not served: ask for segment timestamps (return_timestamps: true)")
    if asked is not None and not isinstance(asked, bool):
        raise InvalidInputError(f"timestamps must be true or false, not {asked!r}")
    return bool(asked)


_GENERATE_KWARGS = ("language", "task", "temperature", "return_timestamps")
_LANGUAGE_CODES = {name: code for code, name in LANGUAGE_NAMES.items()}


def _with_generate_kwargs(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """The Hugging Face ASR pipeline's ``generate_kwargs`` as plain options (its own names win).

    The pipeline names a language as a code (``fr``), a token (``<|fr|>``) or an English name
    (``french``); all three are taken. Other generation arguments are refused: decoding is the bundle's.
    """
    extra = raw.get("generate_kwargs")
    if extra is None:
        return raw
    if not isinstance(extra, Mapping):
        raise InvalidInputError('generate_kwargs must be an object, e.g. {"language": "fr", "task": "transcribe"}')
    unknown = sorted(set(extra) - set(_GENERATE_KWARGS))
    if unknown:
        raise InvalidInputError(f"generate_kwargs takes {', '.join(_GENERATE_KWARGS)}; not {', '.join(unknown)}")
    merged = {**raw, **extra}
    language = extra.get("language")
    if isinstance(language, str):
        language = language.strip().lower().removeprefix("<|").removesuffix("|>")
        merged["language"] = _LANGUAGE_CODES.get(language, language)
    return merged


def _prediction(document: str, timestamps: bool) -> dict[str, Any]:
    """The Hugging Face ASR pipeline's answer for one transcript document."""
    transcript = json.loads(document)
    answer: dict[str, Any] = {"text": transcript["text"]}
    if timestamps:
        answer["chunks"] = [
            {"timestamp": [segment["start"], segment["end"]], "text": segment["text"]}
            for segment in transcript["segments"]
        ]
    return answer


class SpeechProcessor:
    """Audio files -> decoded samples and checked options; transcripts -> answers."""

    def __init__(self, bundle: Bundle) -> None:
        spec = bundle.manifest.speech
        if spec is None:
            raise ValueError(f"{bundle.root}: a speech bundle needs a speech section in its manifest; repackage it")
        self.spec: SpeechSpec = spec
        self.max_bytes = AUDIO_MAX_BYTES

    @property
    def bodies(self) -> frozenset[str]:
        """Audio file bodies (``audio/*``, or ``application/octet-stream``) besides JSON."""
        return frozenset({"audio"})

    @property
    def score_labels(self) -> Mapping[str, Sequence[str]]:
        """No score outputs."""
        return {}

    @property
    def embedder(self) -> Embedder | None:
        """No embeddings."""
        return None

    def options(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Checked transcription options (400 naming the bad one)."""
        raw = _with_generate_kwargs(raw)
        language = raw.get("language") or None
        whisper = self.spec.whisper
        if language is not None:
            language = str(language).strip().lower()
            if whisper is not None and whisper.multilingual and language not in whisper.language_tokens:
                known = ", ".join(sorted(whisper.language_tokens)[:20])
                raise InvalidInputError(f"language {language!r} is not one this model knows (ISO-639-1 codes: {known})")
            if whisper is not None and not whisper.multilingual and language != "en":
                raise InvalidInputError(
                    f"this Whisper model is English-only: drop language or set it to 'en', not {language!r}"
                )
        task = str(raw.get("task") or "transcribe")
        if task not in _TASKS or (task == "translate" and (whisper is None or not whisper.multilingual)):
            raise InvalidInputError(f"task {task!r} is not served by this model: use transcribe")
        prompt = raw.get("prompt")
        if prompt is not None and not isinstance(prompt, str):
            raise InvalidInputError("prompt must be text")
        return {
            "language": language,
            "prompt": prompt or None,
            "timestamps": _timestamps(raw),
            "task": task,
            "temperature": self._temperature(raw.get("temperature")),
            "logprobs": raw.get("logprobs") is True,  # set by codecs that report avg_logprob
        }

    def _temperature(self, raw: Any) -> float:
        """The sampling temperature, 0 to 1 as OpenAI takes it (0 or absent: greedy; CTC decodes greedily only)."""
        try:
            temperature = 0.0 if raw is None or raw == "" else float(raw)
        except (TypeError, ValueError):
            raise InvalidInputError(f"temperature must be a number from 0 to 1, not {raw!r}") from None
        if not 0.0 <= temperature <= 1.0:
            raise InvalidInputError(f"temperature must be from 0 to 1, not {temperature}")
        if temperature > 0.0 and self.spec.whisper is None:
            raise InvalidInputError("this CTC model decodes greedily: send temperature 0 (or leave it out)")
        return temperature

    def preprocess(self, inputs: Inputs) -> Feed:
        """Decode every file (limits first) and check the options; nothing runs on a bad request."""
        options = self.options(inputs.options)
        files, single = audio_files(inputs)
        decoded = []
        for data in files:
            try:
                decoded.append(
                    decode_audio(
                        data,
                        self.spec.features.sampling_rate,
                        max_bytes=self.max_bytes,
                        max_seconds=self.spec.max_audio_seconds,
                    ).samples
                )
            except AudioError as error:
                raise audio_error(error) from None
        longest = max(len(samples) for samples in decoded)
        audio = np.zeros((len(decoded), longest), dtype=np.float32)
        for index, samples in enumerate(decoded):
            audio[index, : len(samples)] = samples
        lengths = np.asarray([len(samples) for samples in decoded], dtype=np.int64)
        documents = np.asarray([json.dumps(options)] * len(decoded), dtype=object)
        seconds = float(lengths.sum()) / self.spec.features.sampling_rate
        arrays: dict[str, np.ndarray] = {"audio": audio, "audio_length": lengths, "options": documents}
        return ExampleFeed(arrays, raw=True, single=single, audio_seconds=seconds)

    def postprocess(self, feed: Feed, outputs: Outputs) -> Outputs:
        """Transcripts are answered as the runtime gave them."""
        return outputs

    def answer(self, inputs: Inputs, feed: Feed, outputs: Outputs, style: Style) -> Answers:
        """``{"text": ...}`` per file (one file alone unwrapped), with ``chunks`` when timestamps were asked;
        tensors: ``text`` and ``transcript``."""
        if style == "tensors":
            return Answers(outputs, primary="text", task="automatic-speech-recognition")
        timestamps = _timestamps(inputs.options)
        predictions: Any = [_prediction(str(document), timestamps) for document in outputs["transcript"]]
        if getattr(feed, "single", False) and len(predictions) == 1:
            predictions = predictions[0]
        return Answers(outputs, predictions=predictions, primary="text", task="automatic-speech-recognition")
