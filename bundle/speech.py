"""The manifest's ``speech`` section: how a speech bundle hears, decodes and was gated.

A speech bundle (task ``automatic-speech-recognition``) holds either one CTC graph (``model.onnx``:
wav2vec2, HuBERT, WavLM; ``input_values`` -> ``logits``, greedy CTC over ``vocab.json``) or Whisper's
encoder (``model.onnx``: ``input_features`` -> ``encoder_hidden_states`` and each decoder layer's
cross-attention keys and values) and decoder with its self-attention cache (``decoder.onnx``), with
``tokenizer.json``. Whisper bundles also store the feature extractor's own mel filter bank
(``mel_filters.npy``), so serving computes the very features transformers computes.

Its samples (``samples.npz``) are audio files with their transcripts: ``input/audio_bytes`` and
``input/audio_lengths`` (the encoded files, zero-padded rows) and ``output/transcript`` (what the
original model transcribed greedily). :func:`bundle.parity_speech.reproduces_speech` judges them.

An audio classifier (task ``audio-classification``: wav2vec2, HuBERT, WavLM ``*ForSequenceClassification``)
is one graph, ``input_values`` [batch, samples] -> ``logits``, softmax ``scores`` [batch, labels] and the
``label`` index; the manifest's ``labels`` are the config's ``id2label``, and its ``speech`` section (kind
``classifier``) says how a file becomes ``input_values``. Its samples are tensors: the sample files decoded
and normalised (cut to the shortest, so they form one batch) with transformers' outputs for them, judged
by the element-wise rule with label agreement (:func:`bundle.parity.reproduces`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AUDIO_BYTES_KEY",
    "AUDIO_CLASSIFICATION_TASK",
    "AUDIO_LENGTHS_KEY",
    "SPEECH_TASK",
    "TRANSCRIPT_KEY",
    "CTCSpec",
    "FeatureSpec",
    "SpeechParity",
    "SpeechSpec",
    "WhisperSpec",
    "pack_audio",
    "unpack_audio",
]

#: The manifest ``task`` of speech bundles.
SPEECH_TASK = "automatic-speech-recognition"
#: The manifest ``task`` of audio classifiers (the Hugging Face pipeline's name).
AUDIO_CLASSIFICATION_TASK = "audio-classification"
#: samples.npz keys: the encoded audio files (uint8 rows, zero-padded), their lengths, the transcripts.
AUDIO_BYTES_KEY = "audio_bytes"
AUDIO_LENGTHS_KEY = "audio_lengths"
TRANSCRIPT_KEY = "transcript"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureSpec(_Strict):
    """The feature extractor's configuration (``preprocessor_config.json``), as serving applies it."""

    kind: Literal["waveform", "log-mel"]
    """``waveform``: the samples themselves (CTC models); ``log-mel``: Whisper's log-mel spectrogram."""
    sampling_rate: int = Field(gt=0)
    normalize: bool = False
    """waveform: zero-mean, unit-variance per recording (``do_normalize``)."""
    n_mels: int | None = None
    n_fft: int | None = None
    hop_length: int | None = None
    chunk_length: int | None = None
    """log-mel: seconds in one window of the encoder (30 for Whisper)."""
    mel_filters_file: str | None = None
    mel_filters_sha256: str | None = None

    @property
    def window_samples(self) -> int:
        """Samples in one encoder window (log-mel)."""
        return int((self.chunk_length or 30) * self.sampling_rate)


class CTCSpec(_Strict):
    """Greedy CTC over a character (or word-piece) vocabulary."""

    vocab_file: str = "vocab.json"
    vocab_sha256: str
    blank_id: int = Field(ge=0)
    """The CTC blank (the tokenizer's pad token)."""
    word_delimiter: str | None = "|"
    """The token written as a space between words."""
    skip_ids: list[int] = Field(default_factory=list)
    """Tokens left out of transcripts besides the blank (none by default: transcripts are transformers' decode)."""
    clean_up_spaces: bool = False
    """The tokenizer's ``clean_up_tokenization_spaces`` (`` .`` -> ``.`` and the like)."""
    samples_per_frame: int = Field(gt=0)
    """Input samples per output frame (the product of the convolution strides: 320 for wav2vec2)."""
    chunk_seconds: float = 30.0
    """Long recordings are transcribed in chunks this long, overlapping by ``stride_seconds`` on each side."""
    stride_seconds: float = 2.5


class WhisperSpec(_Strict):
    """Whisper's decoder: its graph, its tokens and its decoding rules (transformers' generation config)."""

    decoder_file: str = "decoder.onnx"
    tokenizer_file: str = "tokenizer.json"
    tokenizer_sha256: str
    layers: int = Field(gt=0)
    heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    max_target_positions: int = Field(gt=0)
    max_new_tokens: int = Field(gt=0)
    start_token_id: int
    """``<|startoftranscript|>``."""
    eos_token_id: int
    transcribe_token_id: int | None = None
    translate_token_id: int | None = None
    no_timestamps_token_id: int
    prev_token_id: int | None = None
    """``<|startofprev|>``: a prompt's tokens follow it, before the start token."""
    timestamp_begin: int
    """The id of ``<|0.00|>``; every id from it on is a timestamp, ``time_precision`` seconds apart."""
    time_precision: float = 0.02
    multilingual: bool
    language_tokens: dict[str, int] = Field(default_factory=dict)
    """Language codes (``en``, ``fr``) to their token ids (multilingual models)."""
    default_language: str | None = None
    suppress_tokens: list[int] = Field(default_factory=list)
    begin_suppress_tokens: list[int] = Field(default_factory=list)
    max_initial_timestamp_index: int | None = None


class SpeechParity(_Strict):
    """The speech gate's figures, measured against transformers on the sample audio."""

    samples: int = Field(ge=0)
    synthetic: bool
    """True when the gate heard the built-in synthetic audio (no ``--sample`` folder was given)."""
    feature_max_abs: float | None = None
    """log-mel: numpy features against transformers' feature extractor."""
    feature_tolerance: float | None = None
    output_max_abs: float
    """CTC: logits; Whisper: encoder output."""
    output_tolerance: float
    decoder_logits_max_abs: float | None = None
    """Whisper: teacher-forced decoder logits (through the cache) on transformers' own greedy tokens."""
    decoder_logits_tolerance: float | None = None
    transcript_agreement: float = Field(ge=0.0, le=1.0)
    """Share of samples whose transcript equals transformers' exactly (classifiers: whose top label does)."""
    word_error_rate: float = Field(ge=0.0)
    """Word error rate of the bundle's transcripts against transformers' (all samples together)."""
    max_word_error_rate: float = Field(ge=0.0)
    """The bound the gate used (0 for fp32: the transcripts must be equal); every later judgement uses it."""
    passed: bool
    label_agreement: float | None = Field(default=None, ge=0.0, le=1.0)
    """Classifiers: share of sample files whose top label equals transformers'."""


class SpeechSpec(_Strict):
    """The ``speech`` section of a speech bundle's manifest."""

    architecture: str
    model_type: str
    kind: Literal["ctc", "whisper", "classifier"]
    """``classifier``: an audio classifier (task ``audio-classification``), one graph over the waveform."""
    precision: Literal["fp32", "int8"] = "fp32"
    features: FeatureSpec
    ctc: CTCSpec | None = None
    whisper: WhisperSpec | None = None
    max_audio_seconds: float = Field(gt=0)
    parity: SpeechParity


def pack_audio(files: list[bytes]) -> dict[str, np.ndarray]:
    """Encoded audio files as samples.npz arrays (no pickle): uint8 rows zero-padded to the longest, and lengths."""
    longest = max((len(item) for item in files), default=0)
    rows = np.zeros((len(files), longest), dtype=np.uint8)
    for index, item in enumerate(files):
        rows[index, : len(item)] = np.frombuffer(item, dtype=np.uint8)
    return {AUDIO_BYTES_KEY: rows, AUDIO_LENGTHS_KEY: np.asarray([len(item) for item in files], dtype=np.int64)}


def unpack_audio(inputs: dict[str, np.ndarray]) -> list[bytes]:
    """The encoded audio files stored by :func:`pack_audio`; ValueError when the arrays do not fit together."""
    if AUDIO_BYTES_KEY not in inputs or AUDIO_LENGTHS_KEY not in inputs:
        raise ValueError(f"the samples of a speech bundle need {AUDIO_BYTES_KEY} and {AUDIO_LENGTHS_KEY} arrays")
    rows, lengths = np.asarray(inputs[AUDIO_BYTES_KEY]), np.asarray(inputs[AUDIO_LENGTHS_KEY])
    if rows.ndim != 2 or lengths.shape != (rows.shape[0],) or (lengths > rows.shape[1]).any() or (lengths < 0).any():
        raise ValueError(f"the samples' {AUDIO_BYTES_KEY} and {AUDIO_LENGTHS_KEY} arrays do not fit together")
    return [rows[index, : int(length)].tobytes() for index, length in enumerate(lengths)]
