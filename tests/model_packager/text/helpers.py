"""Run a text bundle the way the runtime does: its tokenizer.json through bundle.processing.text, then onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from bundle import open_bundle
from bundle.processing.text import EncodedBatch, load_tokenizer


def run_bundle(directory: Path, texts: list[str]) -> tuple[dict[str, np.ndarray], EncodedBatch]:
    bundle = open_bundle(directory)
    assert bundle.manifest.text is not None
    encoded = load_tokenizer(bundle.root, bundle.manifest.text).encode(texts)
    session = ort.InferenceSession(str(bundle.model_path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(names, encoded.feed), strict=True)), encoded


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))
