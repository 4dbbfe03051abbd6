"""Greedy CTC transcription: chunked logits, best path, collapsed repeats, blanks out; numpy only.

Used by the packager's gate and by the runtime, so both transcribe alike. The text is what transformers'
``Wav2Vec2CTCTokenizer.decode`` gives for the best path (repeats grouped, the pad token as blank
dropped, the word delimiter as a space, stripped, its ``clean_up_tokenization_spaces`` applied).

Long recordings are cut into ``chunk_seconds`` windows that overlap by ``stride_seconds`` on each side
(the Hugging Face pipeline's chunking): each window's logits lose their strided edges and the rest are
joined, so a word on a boundary is heard whole by one window.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bundle.processing.audio import normalize
from bundle.speech import CTCSpec

__all__ = ["CTCDecoder", "chunk_logits"]

_CLEANUPS = (
    (" .", "."),
    (" ?", "?"),
    (" !", "!"),
    (" ,", ","),
    (" ' ", "'"),
    (" n't", "n't"),
    (" 'm", "'m"),
    (" 's", "'s"),
    (" 've", "'ve"),
    (" 're", "'re"),
)


class CTCDecoder:
    """Token ids of a best path -> text, over the bundle's ``vocab.json``."""

    def __init__(self, vocab: dict[str, int], spec: CTCSpec) -> None:
        self.tokens = {index: token for token, index in vocab.items()}
        self.spec = spec
        self.clean_up_spaces = spec.clean_up_spaces
        self.skip = {spec.blank_id, *spec.skip_ids}

    @classmethod
    def load(cls, root: Path, spec: CTCSpec) -> CTCDecoder:
        """The decoder of a bundle (its ``vocab.json``)."""
        vocab = json.loads((root / spec.vocab_file).read_text(encoding="utf-8"))
        return cls({str(k): int(v) for k, v in vocab.items()}, spec)

    def decode(self, ids: np.ndarray) -> str:
        """The transcript of one best path (frame ids)."""
        values = np.asarray(ids).reshape(-1)
        if values.size == 0:
            return ""
        keep = np.ones(values.size, dtype=bool)
        keep[1:] = values[1:] != values[:-1]  # repeats collapse first, then blanks go
        pieces = []
        for index in values[keep].tolist():
            if index in self.skip:
                continue
            token = self.tokens.get(int(index), "")
            pieces.append(" " if token == self.spec.word_delimiter else token)
        text = "".join(pieces).strip()
        if self.clean_up_spaces:
            for old, new in _CLEANUPS:
                text = text.replace(old, new)
        return text


def chunk_logits(
    samples: np.ndarray, rate: int, spec: CTCSpec, run: Callable[[np.ndarray], np.ndarray], *, normalize_input: bool
) -> np.ndarray:
    """[frames, vocab] logits of a whole recording, run window by window (see the module docstring).

    ``run`` takes [1, samples] float32 input values and gives [1, frames, vocab] logits.
    """
    chunk = int(spec.chunk_seconds * rate)
    stride = int(spec.stride_seconds * rate)
    if len(samples) <= chunk + 2 * stride:
        values = normalize(samples) if normalize_input else samples.astype(np.float32)
        return np.asarray(run(values[None, :])[0])
    ratio = spec.samples_per_frame
    step = chunk
    pieces = []
    for start in range(0, len(samples), step):
        left = max(0, start - stride)
        stop = min(len(samples), start + chunk + stride)
        window = samples[left:stop]
        values = normalize(window) if normalize_input else window.astype(np.float32)
        logits = run(values[None, :])[0]
        skip_left = (start - left) // ratio
        keep = round((min(start + chunk, len(samples)) - start) / ratio)
        pieces.append(logits[skip_left : skip_left + keep])
        if start + chunk >= len(samples):
            break
    return np.concatenate(pieces, axis=0)
