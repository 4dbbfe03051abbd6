"""A speech model folder (``save_pretrained``): detection, loading, and the specs the bundle records."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bundle.limits import AUDIO_MAX_SECONDS
from bundle.speech import CTCSpec, FeatureSpec, WhisperSpec
from model_packager.job import InvalidRequestError

__all__ = ["SpeechSource", "read_source", "speech_architecture"]

WHISPER = "WhisperForConditionalGeneration"
_HINT = "install the speech and text extras: pip install 'maaskit[text,speech]'"


def speech_architecture(model_or_path: Any) -> str | None:
    """The speech architecture a folder's ``config.json`` (or a model object's config) names, else None."""
    architectures: list[str] = []
    if isinstance(model_or_path, str | Path):
        config = Path(model_or_path) / "config.json"
        if not config.is_file():
            return None
        try:
            architectures = list(json.loads(config.read_text(encoding="utf-8")).get("architectures") or [])
        except (OSError, ValueError):
            return None
    else:
        architectures = list(getattr(getattr(model_or_path, "config", None), "architectures", None) or [])
    return next((str(a) for a in architectures if str(a) == WHISPER or str(a).endswith("ForCTC")), None)


@dataclass
class SpeechSource:
    """The loaded original: model, processor, and what the bundle records."""

    path: Path
    architecture: str
    model_type: str
    kind: str
    model: Any
    processor: Any
    features: FeatureSpec
    ctc: CTCSpec | None = None
    whisper_fields: dict[str, Any] | None = None

    @property
    def rate(self) -> int:
        """The model's sampling rate."""
        return self.features.sampling_rate


def _load(path: Path, kind: str) -> tuple[Any, Any]:
    try:
        import transformers
    except ImportError:
        raise InvalidRequestError(f"packaging speech models needs transformers and torch: {_HINT}") from None
    try:
        processor = transformers.AutoProcessor.from_pretrained(str(path))  # type: ignore[no-untyped-call]
        loader = transformers.WhisperForConditionalGeneration if kind == "whisper" else transformers.AutoModelForCTC
        # eager attention: its TorchScript export is what onnxruntime's fusions recognise (see export.fuse_decoder)
        options: dict[str, Any] = {"attn_implementation": "eager"} if kind == "whisper" else {}
        model = loader.from_pretrained(str(path), **options).eval()
    except (OSError, ValueError) as exc:
        raise InvalidRequestError(
            f"{path} cannot be loaded as a speech model ({str(exc).strip().splitlines()[0][:200]}): it needs "
            "config.json, "
            "the weights, preprocessor_config.json and the tokenizer files as save_pretrained writes them"
        ) from None
    return model, processor


def _ctc_spec(model: Any, tokenizer: Any) -> CTCSpec:
    ratio = getattr(model.config, "inputs_to_logits_ratio", None) or math.prod(
        getattr(model.config, "conv_stride", (320,))
    )
    if tokenizer.pad_token_id is None:
        raise InvalidRequestError("the CTC tokenizer has no pad token (the CTC blank): set pad_token in its config")
    return CTCSpec(
        vocab_sha256="0" * 64,
        blank_id=int(tokenizer.pad_token_id),
        word_delimiter=getattr(tokenizer, "word_delimiter_token", None),
        clean_up_spaces=bool(getattr(tokenizer, "clean_up_tokenization_spaces", False)),
        samples_per_frame=int(ratio),
    )


def _whisper_fields(model: Any, tokenizer: Any) -> dict[str, Any]:
    config, generation = model.config, model.generation_config
    layer = model.model.decoder.layers[0].self_attn
    no_timestamps = getattr(generation, "no_timestamps_token_id", None)
    if no_timestamps is None:
        raise InvalidRequestError(
            "the Whisper generation_config.json lacks no_timestamps_token_id: save it with the model"
        )
    task_ids = dict(getattr(generation, "task_to_id", None) or {})
    languages = {
        str(token).strip("<|>"): int(i) for token, i in (getattr(generation, "lang_to_id", None) or {}).items()
    }
    multilingual = bool(getattr(generation, "is_multilingual", bool(languages)))
    prev = tokenizer.convert_tokens_to_ids("<|startofprev|>")
    return {
        "tokenizer_sha256": "0" * 64,
        "layers": len(model.model.decoder.layers),
        "heads": int(layer.num_heads),
        "head_dim": int(layer.head_dim),
        "vocab_size": int(config.vocab_size),
        "max_target_positions": int(config.max_target_positions),
        "max_new_tokens": int(config.max_target_positions) // 2,
        "start_token_id": int(generation.decoder_start_token_id),
        "eos_token_id": int(generation.eos_token_id),
        "transcribe_token_id": task_ids.get("transcribe"),
        "translate_token_id": task_ids.get("translate"),
        "no_timestamps_token_id": int(no_timestamps),
        "prev_token_id": prev if isinstance(prev, int) and prev >= 0 else None,
        "timestamp_begin": int(no_timestamps) + 1,
        "multilingual": multilingual,
        "language_tokens": languages,
        "suppress_tokens": [int(t) for t in (generation.suppress_tokens or [])],
        "begin_suppress_tokens": [int(t) for t in (generation.begin_suppress_tokens or [])],
        "max_initial_timestamp_index": getattr(generation, "max_initial_timestamp_index", None),
    }


def read_source(path: Path) -> SpeechSource:
    """Load and describe a Whisper or CTC folder; InvalidRequestError naming what is missing."""
    architecture = speech_architecture(path)
    if architecture is None:
        raise InvalidRequestError(
            f"{path}/config.json names no speech architecture: automatic-speech-recognition packages "
            "WhisperForConditionalGeneration and *ForCTC (wav2vec2, HuBERT, WavLM) folders"
        )
    kind = "whisper" if architecture == WHISPER else "ctc"
    model, processor = _load(path, kind)
    extractor, tokenizer = processor.feature_extractor, processor.tokenizer
    if kind == "whisper":
        features = FeatureSpec(
            kind="log-mel",
            sampling_rate=int(extractor.sampling_rate),
            n_mels=int(extractor.feature_size),
            n_fft=int(extractor.n_fft),
            hop_length=int(extractor.hop_length),
            chunk_length=int(extractor.chunk_length),
            mel_filters_file="mel_filters.npy",
            mel_filters_sha256="0" * 64,
        )
        if extractor.n_samples != features.window_samples:
            raise InvalidRequestError("the feature extractor's window does not match chunk_length * sampling_rate")
        return SpeechSource(
            path,
            architecture,
            model.config.model_type,
            kind,
            model,
            processor,
            features,
            whisper_fields=_whisper_fields(model, tokenizer),
        )
    features = FeatureSpec(
        kind="waveform",
        sampling_rate=int(extractor.sampling_rate),
        normalize=bool(getattr(extractor, "do_normalize", False)),
    )
    return SpeechSource(
        path, architecture, model.config.model_type, kind, model, processor, features, ctc=_ctc_spec(model, tokenizer)
    )


def whisper_spec(fields: dict[str, Any], tokenizer_sha256: str) -> WhisperSpec:
    """The WhisperSpec once the tokenizer file is written."""
    return WhisperSpec(**(fields | {"tokenizer_sha256": tokenizer_sha256}))


def default_max_seconds() -> float:
    """The longest recording a speech bundle transcribes per request (``bundle.limits``)."""
    return AUDIO_MAX_SECONDS
