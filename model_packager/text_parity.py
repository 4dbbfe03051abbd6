"""The raw-text parity gate: the original model on its own tokenizer against the bundle on texts.

Two checks, in order:

1. Tokenizer agreement: the bundle's ``tokenizer.json`` (run by ``bundle.processing.text``, as the
   runtime runs it) must give every sample text exactly the ids the original pipeline gives it;
   the first differing text and token fail packaging.
2. Outputs: the bundle's model.onnx on those encodings against the original's outputs, by the
   bundle's text rule (``bundle.parity_text.reproduces_text``: the element-wise rule plus, for
   embeddings, cosine per text and retrieval ranking; for classifiers label agreement on real tokens).
"""

from __future__ import annotations

import numpy as np

from bundle import ParityReport
from bundle.parity import OutputMismatchError, Tolerances, align_expected
from bundle.parity_text import TextTolerances, reproduces_text
from bundle.processing.text import EncodedBatch
from model_packager.converters.base import ConversionError, PackagingError
from model_packager.parity import ParityError, run_onnx

__all__ = ["TokenizerMismatchError", "check_text_parity", "check_tokenizer_agreement", "compare_text_outputs"]


class TokenizerMismatchError(PackagingError):
    """The bundle's tokenizer gives a text other ids than the model's own tokenizer."""


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_tokenizer_agreement(
    texts: list[str], encoded: EncodedBatch, reference: list[list[int]], vocab: dict[int, str]
) -> None:
    """Raise TokenizerMismatchError at the first text whose ids differ from the original tokenizer's."""
    ids = encoded.feed["input_ids"]
    for index, (text, want) in enumerate(zip(texts, reference, strict=True)):
        got = ids[index, : encoded.token_counts[index]].tolist()
        if got == want:
            continue
        position = next(
            (p for p, (g, w) in enumerate(zip(got, want, strict=False)) if g != w), min(len(got), len(want))
        )
        bundle_token = f"{got[position]} {vocab.get(got[position], '?')!r}" if position < len(got) else "(end)"
        model_token = f"{want[position]} {vocab.get(want[position], '?')!r}" if position < len(want) else "(end)"
        raise TokenizerMismatchError(
            f"the bundle's tokenizer.json disagrees with the model's own tokenizer on text {index} "
            f"{_shorten(text)!r}: token {position} is {bundle_token} from tokenizer.json but {model_token} from the "
            f"model's tokenizer ({len(got)} vs {len(want)} tokens). Save the tokenizer again with "
            "tokenizer.save_pretrained(DIR) so tokenizer.json and tokenizer_config.json agree"
        )


def compare_text_outputs(
    task: str,
    *,
    actual: dict[str, np.ndarray],
    expected: dict[str, np.ndarray],
    encoded: EncodedBatch,
    tolerances: Tolerances,
    text_tolerances: TextTolerances,
) -> tuple[ParityReport, list[str]]:
    """Compare a text model's outputs with the original's by the bundle's text rule (``reproduces_text``)."""
    try:
        aligned = align_expected(expected, actual)
    except OutputMismatchError as exc:
        raise ConversionError(f"{exc} (onnxruntime versus the original model)") from None
    return reproduces_text(
        task,
        actual,
        aligned,
        attention_mask=encoded.feed["attention_mask"],
        tolerances=tolerances,
        text_tolerances=text_tolerances,
    )


def check_text_parity(
    model_bytes: bytes,
    *,
    task: str,
    encoded: EncodedBatch,
    expected: dict[str, np.ndarray],
    tolerances: Tolerances,
    text_tolerances: TextTolerances,
    stage: str,
) -> ParityReport:
    """Run model.onnx on the encoded texts and compare; raise ParityError naming what broke."""
    actual = run_onnx(model_bytes, encoded.feed)
    report, failures = compare_text_outputs(
        task,
        actual=actual,
        expected=expected,
        encoded=encoded,
        tolerances=tolerances,
        text_tolerances=text_tolerances,
    )
    if failures:
        raise ParityError(f"parity failed after {stage}: " + "; ".join(failures), report, stage)
    return report
