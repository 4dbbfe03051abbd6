"""Tiny speech models and synthetic audio for tests, built from configs with random weights (nothing is downloaded).

``save_wav2vec2(dir)`` writes a wav2vec2 CTC folder (character ``vocab.json``), ``save_hubert`` and
``save_wavlm`` the same for HuBERT and WavLM, ``save_audio_classifier(dir, family)`` a 3-label
``*ForSequenceClassification`` audio classifier; ``save_whisper(dir)`` a
Whisper folder (d_model 64, 2+2 layers, 4 heads; a byte-level BPE tokenizer with Whisper's special
tokens, language, task and 1501 timestamp tokens; a generation config as the hub's). ``tone``,
``chirp`` and ``encode`` make real audio files (WAV, FLAC, OGG, MP3) with soundfile.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "AUDIO_FAMILIES",
    "AUDIO_LABELS",
    "LANGUAGES",
    "WHISPER_TINY",
    "chirp",
    "encode",
    "save_audio_classifier",
    "save_ctc",
    "save_hubert",
    "save_wav2vec2",
    "save_wavlm",
    "save_whisper",
    "speech",
    "tone",
]

LANGUAGES = ("en", "fr", "de")
_CHARS = list("abcdefghijklmnopqrstuvwxyz'")
#: whisper-tiny's shape (39 M parameters) for benchmarks: ``save_whisper(dir, dims=WHISPER_TINY, base_vocab=50256)``.
WHISPER_TINY = {
    "d_model": 384,
    "encoder_layers": 4,
    "decoder_layers": 4,
    "encoder_attention_heads": 6,
    "decoder_attention_heads": 6,
    "encoder_ffn_dim": 1536,
    "decoder_ffn_dim": 1536,
}


def tone(seconds: float, rate: int = 16000, freq: float = 440.0, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A sine with a little noise, [samples] or [samples, channels] float32."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    mono = 0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(len(t))
    out = np.stack([mono * (1 - 0.3 * c) for c in range(channels)], axis=1) if channels > 1 else mono
    return out.astype(np.float32)


def chirp(seconds: float, rate: int = 16000, start: float = 200.0, stop: float = 2000.0) -> np.ndarray:
    """A rising sweep with bursts of noise (speech-like energy changes), float32."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * (start * t + (stop - start) * t**2 / (2 * max(seconds, 1e-3)))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.4 * envelope * np.sin(phase)).astype(np.float32)


def speech(seconds: float, rate: int = 16000, seed: int = 1) -> np.ndarray:
    """Syllable-like bursts of formant tones separated by pauses, float32."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * rate), dtype=np.float32)
    at = 0
    while at < len(out):
        length = int(rate * rng.uniform(0.1, 0.3))
        t = np.arange(min(length, len(out) - at)) / rate
        f0 = rng.uniform(100, 250)
        burst = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3)) * np.hanning(len(t))
        out[at : at + len(t)] = 0.3 * burst
        at += len(t) + int(rate * rng.uniform(0.05, 0.4))
    return out


def encode(samples: np.ndarray, rate: int = 16000, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    """``samples`` as an encoded file (WAV, FLAC, OGG (Vorbis; subtype OPUS for Opus), MP3)."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


#: The tiny encoder every CTC and audio-classification test model shares (wav2vec2, HuBERT, WavLM configs).
_TINY_ENCODER: dict[str, Any] = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": (16,) * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
}
#: ``family`` of :func:`save_ctc` and :func:`save_audio_classifier`: (config class, CTC class, classifier class).
AUDIO_FAMILIES = {
    "wav2vec2": ("Wav2Vec2Config", "Wav2Vec2ForCTC", "Wav2Vec2ForSequenceClassification"),
    "hubert": ("HubertConfig", "HubertForCTC", "HubertForSequenceClassification"),
    "wavlm": ("WavLMConfig", "WavLMForCTC", "WavLMForSequenceClassification"),
}
#: The labels of :func:`save_audio_classifier`'s models (``id2label``).
AUDIO_LABELS = ("speech", "music", "noise")


def _extractor() -> Any:
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(  # type: ignore[no-untyped-call]
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=False
    )


def save_ctc(directory: Path, family: str = "wav2vec2", seed: int = 0) -> Path:
    """A tiny CTC model folder of ``family`` (wav2vec2, hubert, wavlm) with its processor (vocab.json,
    preprocessor_config.json): the same vocabulary and feature extractor for every family."""
    import torch
    import transformers
    from transformers import Wav2Vec2CTCTokenizer

    config_name, model_name, _ = AUDIO_FAMILIES[family]
    directory.mkdir(parents=True, exist_ok=True)
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4} | {c: i + 5 for i, c in enumerate(_CHARS)}
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(str(directory / "vocab.json"), word_delimiter_token="|")  # type: ignore[no-untyped-call]
    config = getattr(transformers, config_name)(
        vocab_size=len(vocab), pad_token_id=0, ctc_loss_reduction="mean", architectures=[model_name], **_TINY_ENCODER
    )
    torch.manual_seed(seed)
    model = getattr(transformers, model_name)(config).eval()
    with torch.no_grad():  # confident, varied frames: greedy choices are not near-ties
        model.lm_head.weight.normal_(0.0, 2.0)
    model.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    _extractor().save_pretrained(str(directory))
    return directory


def save_wav2vec2(directory: Path, seed: int = 0) -> Path:
    """A tiny wav2vec2 CTC model folder with its processor (vocab.json, preprocessor_config.json)."""
    return save_ctc(directory, "wav2vec2", seed)


def save_hubert(directory: Path, seed: int = 0) -> Path:
    """A tiny HuBERT CTC folder (``HubertForCTC``), wav2vec2's vocabulary and feature extractor."""
    return save_ctc(directory, "hubert", seed)


def save_wavlm(directory: Path, seed: int = 0) -> Path:
    """A tiny WavLM CTC folder (``WavLMForCTC``), wav2vec2's vocabulary and feature extractor."""
    return save_ctc(directory, "wavlm", seed)


def save_audio_classifier(
    directory: Path, family: str = "wav2vec2", seed: int = 0, labels: tuple[str, ...] = AUDIO_LABELS
) -> Path:
    """A tiny ``*ForSequenceClassification`` audio classifier folder (``id2label`` of ``labels``) with its
    feature extractor, as ``save_pretrained`` writes it (what the audio-classification pipeline loads)."""
    import torch
    import transformers

    config_name, _, model_name = AUDIO_FAMILIES[family]
    directory.mkdir(parents=True, exist_ok=True)
    config = getattr(transformers, config_name)(
        id2label=dict(enumerate(labels)),
        label2id={label: index for index, label in enumerate(labels)},
        classifier_proj_size=16,
        architectures=[model_name],
        **_TINY_ENCODER,
    )
    torch.manual_seed(seed)
    model = getattr(transformers, model_name)(config).eval()
    with torch.no_grad():  # scores that differ from file to file
        model.classifier.weight.normal_(0.0, 3.0)
    model.save_pretrained(str(directory))
    _extractor().save_pretrained(str(directory))
    return directory


def _whisper_tokenizer(multilingual: bool, base_vocab: int = 0) -> Any:
    from tokenizers import pre_tokenizers
    from transformers import WhisperTokenizer

    from tests.genmodels import tokenizer as train_bpe

    bpe = train_bpe([], vocab_size=320)
    state = json.loads(bpe.to_str())["model"]
    vocab = dict(state["vocab"])
    for filler in range(len(vocab), base_vocab):  # unreachable by merges: a real-sized output layer
        vocab[f"w{filler}"] = filler
    vocab["<|endoftext|>"] = len(vocab)
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    assert pre_tokenizers is not None
    tok = WhisperTokenizer(vocab=vocab, merges=merges)
    specials = ["<|startoftranscript|>"]
    specials += [f"<|{code}|>" for code in (LANGUAGES if multilingual else ("en",))]
    specials += [
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nocaptions|>",
        "<|notimestamps|>",
    ]
    tok.add_special_tokens({"additional_special_tokens": specials})
    tok.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(1501)])
    return tok


def save_whisper(
    directory: Path,
    *,
    multilingual: bool = True,
    seed: int = 0,
    max_target_positions: int = 96,
    dims: dict[str, int] | None = None,
    base_vocab: int = 0,
) -> Path:
    """A tiny Whisper folder (model, tokenizer, feature extractor, generation config) as save_pretrained writes it."""
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    directory.mkdir(parents=True, exist_ok=True)
    tok = _whisper_tokenizer(multilingual, base_vocab)
    ids = {token: tok.convert_tokens_to_ids(token) for token in tok.get_vocab()}
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    shape = {
        "d_model": 64,
        "encoder_layers": 2,
        "decoder_layers": 2,
        "encoder_attention_heads": 4,
        "decoder_attention_heads": 4,
        "encoder_ffn_dim": 128,
        "decoder_ffn_dim": 128,
    } | dict(dims or {})
    config = WhisperConfig(
        vocab_size=len(tok),
        num_mel_bins=80,
        **shape,
        max_source_positions=1500,
        max_target_positions=max_target_positions,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
        architectures=["WhisperForConditionalGeneration"],
        begin_suppress_tokens=None,
        suppress_tokens=None,
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():
        weight = model.model.decoder.embed_tokens.weight  # tied to the output projection
        weight.normal_(0.0, 1.0)  # decisive logits: greedy choices are not near-ties
        weight[sot : ids["<|notimestamps|>"] + 1].mul_(0.05)  # control tokens rarely win
        weight[:256].mul_(0.2)  # single bytes rarely win: transcripts are whole words of the corpus
        weight[ids["<|notimestamps|>"] + 1 :].mul_(0.5)  # timestamps where the rules ask for them
    model.save_pretrained(str(directory))
    tok.save_pretrained(str(directory))
    WhisperFeatureExtractor(feature_size=80).save_pretrained(str(directory))
    languages = LANGUAGES if multilingual else ("en",)
    suppress = [ids["<|startoflm|>"], ids["<|nocaptions|>"]] + [i for i in range(1, 40, 7)]
    tasks = (
        {  # English-only models have neither (as the hub's *.en configs)
            "lang_to_id": {f"<|{code}|>": ids[f"<|{code}|>"] for code in languages},
            "task_to_id": {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        }
        if multilingual
        else {}
    )
    generation = GenerationConfig(
        decoder_start_token_id=sot,
        eos_token_id=eot,
        pad_token_id=eot,
        bos_token_id=eot,
        max_length=max_target_positions,
        is_multilingual=multilingual,
        **tasks,
        no_timestamps_token_id=ids["<|notimestamps|>"],
        prev_sot_token_id=ids["<|startofprev|>"],
        suppress_tokens=suppress,
        begin_suppress_tokens=[ids.get("Ġ", 220), eot],
        max_initial_timestamp_index=50,
        return_timestamps=False,
    )
    generation.save_pretrained(str(directory))
    return directory
