"""The two ways a speech bundle transcribes: greedy CTC over one graph, Whisper's cached decoder loop.

Both take mono float32 samples at the model's rate and :class:`Asked` options, and give a
:class:`~bundle.processing.transcript.Transcript` (text, language, duration, segments). The decoding
itself is :mod:`bundle.processing.ctc` and :mod:`bundle.processing.whisper`, shared with the packager's gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bundle import Bundle
from bundle.processing.ctc import CTCDecoder, chunk_logits
from bundle.processing.transcript import Segment, Transcript
from bundle.processing.whisper import WhisperDecoder
from bundle.speech import SpeechSpec

__all__ = ["Asked", "CTCEngine", "SpeechEngine", "WhisperEngine", "engine_for"]


@dataclass(frozen=True)
class Asked:
    """What a request asks of a transcription (validated by the processor before inference)."""

    language: str | None = None
    prompt: str | None = None
    timestamps: bool = False
    task: str = "transcribe"
    temperature: float = 0.0
    """0: greedy; above 0 (Whisper only), each token is drawn at that temperature."""
    logprobs: bool = False
    """Whisper: compute each segment's ``avg_logprob`` (every step then needs its full logits)."""


class SpeechEngine(Protocol):
    """Samples in, transcript out."""

    def transcribe(self, samples: np.ndarray, asked: Asked) -> Transcript:
        """The transcript of one recording."""
        ...


class CTCEngine:
    """Greedy CTC over the bundle's one graph (``input_values`` -> ``logits``)."""

    def __init__(self, bundle: Bundle, spec: SpeechSpec, session: Any) -> None:
        assert spec.ctc is not None
        self.spec, self.ctc, self.session = spec, spec.ctc, session
        self.decoder = CTCDecoder.load(bundle.root, spec.ctc)
        self.input = session.get_inputs()[0].name

    def _run(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run(None, {self.input: values})[0])

    def transcribe(self, samples: np.ndarray, asked: Asked) -> Transcript:
        """The best path of the whole recording, cut into segments of at most ``chunk_seconds`` at word boundaries."""
        rate = self.spec.features.sampling_rate
        logits = chunk_logits(samples, rate, self.ctc, self._run, normalize_input=self.spec.features.normalize)
        ids = logits.argmax(-1)
        frame = self.ctc.samples_per_frame / rate
        segments, start = [], 0
        limit = max(1, int(self.ctc.chunk_seconds / frame))
        while start < len(ids):
            stop = min(len(ids), start + limit)
            if stop < len(ids):  # cut on a blank or word delimiter so no word is split
                quiet = np.flatnonzero(np.isin(ids[start + limit // 2 : stop], self._breaks()))
                stop = start + limit // 2 + int(quiet[-1]) + 1 if quiet.size else stop
            text = self.decoder.decode(ids[start:stop])
            if text:
                segments.append(Segment(round(start * frame, 3), round(stop * frame, 3), " " + text))
            start = stop
        text = " ".join(segment.text.strip() for segment in segments)
        full = self.decoder.decode(ids) if len(segments) <= 1 else text
        return Transcript(full, asked.language, len(samples) / rate, segments)

    def _breaks(self) -> list[int]:
        delimiter = self.decoder.spec.word_delimiter
        ids = [self.ctc.blank_id]
        ids += [index for index, token in self.decoder.tokens.items() if token == delimiter]
        return ids


class WhisperEngine:
    """Whisper: the bundle's encoder (``model.onnx``) and cached decoder (``decoder.onnx``), greedy."""

    def __init__(self, bundle: Bundle, spec: SpeechSpec, session: Any, decoder_session: Any) -> None:
        from tokenizers import Tokenizer

        assert spec.whisper is not None and spec.features.mel_filters_file is not None
        self.spec = spec
        filters = np.load(bundle.root / spec.features.mel_filters_file, allow_pickle=False)
        self.tokenizer = Tokenizer.from_file(str(bundle.root / spec.whisper.tokenizer_file))
        self.decoder = WhisperDecoder(
            spec.whisper,
            spec.features,
            filters,
            lambda features: session.run(None, {"input_features": features}),
            decoder_session,
            self.tokenizer,
        )

    def prompt_ids(self, prompt: str | None) -> list[int]:
        """A prompt's tokens (OpenAI's ``initial_prompt``: a leading space, special tokens left out)."""
        if not prompt or not prompt.strip():
            return []
        ids = self.tokenizer.encode(" " + prompt.strip(), add_special_tokens=False).ids
        return [int(i) for i in ids if int(i) < self.decoder.spec.eos_token_id]

    def transcribe(self, samples: np.ndarray, asked: Asked) -> Transcript:
        """Short recordings in one window, long ones (or timestamps asked) in sequential windows."""
        return self.decoder.transcribe(
            samples,
            language=asked.language,
            task=asked.task,
            timestamps=asked.timestamps,
            prompt=self.prompt_ids(asked.prompt),
            temperature=asked.temperature,
            logprobs=asked.logprobs,
        )


def engine_for(bundle: Bundle, spec: SpeechSpec, session: Any, make_session: Any) -> SpeechEngine:
    """The engine of a bundle; ``make_session(path)`` opens its decoder graph (Whisper)."""
    if spec.kind == "ctc":
        return CTCEngine(bundle, spec, session)
    assert spec.whisper is not None
    return WhisperEngine(bundle, spec, session, make_session(Path(bundle.root) / spec.whisper.decoder_file))
