"""Text-model outputs as answers: embeddings (optionally truncated), top-k labels, aggregated entities.

Pure numpy over what the graph returned and what the tokenizer recorded; the protocols render the
result in their own shapes. Entity aggregation follows the Hugging Face token-classification
pipeline's ``aggregation_strategy="simple"``: each token takes its best label; consecutive tokens with
the same entity type (``B-``/``I-`` prefixes stripped; a ``B-`` starts a new entity) form one group
whose score is the mean of its tokens'; groups labelled ``O`` are dropped. ``word`` is the text
between the group's first and last character offsets (the pipeline decodes the word pieces instead,
which lowercases text for an uncased tokenizer; the offsets are the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from handlers.errors import InvalidInputError

__all__ = ["Entity", "LabelScore", "aggregate_entities", "top_k_labels", "truncate_embeddings"]

LabelScore = dict[str, Any]
"""``{"label": str, "score": float}``."""
Entity = dict[str, Any]
"""``{"entity_group": str, "score": float, "word": str, "start": int, "end": int}``."""

_OUTSIDE = "O"


def top_k_labels(scores: np.ndarray, labels: Sequence[str], top_k: int | None) -> list[list[LabelScore]]:
    """Per row the ``top_k`` best ``{"label", "score"}`` (all labels, best first, when None)."""
    if scores.ndim != 2 or scores.shape[1] != len(labels):
        raise ValueError(f"scores of shape {list(scores.shape)} do not match {len(labels)} labels")
    count = len(labels) if top_k is None else min(top_k, len(labels))
    order = np.argsort(-scores, axis=1, kind="stable")[:, :count]
    return [
        [{"label": labels[index], "score": float(row[index])} for index in picks]
        for row, picks in zip(scores, order, strict=True)
    ]


def _tag(label: str) -> tuple[str, str]:
    """(``B`` | ``I``, entity type); a label without a B-/I- prefix continues like ``I-``."""
    if label.startswith("B-"):
        return "B", label[2:]
    if label.startswith("I-"):
        return "I", label[2:]
    return "I", label


def _group(text: str, members: list[tuple[str, float, int, int]]) -> Entity:
    _, kind = _tag(members[0][0])
    start, end = members[0][2], members[-1][3]
    return {
        "entity_group": kind,
        "score": float(np.nanmean([score for _, score, _, _ in members])),
        "word": text[start:end],
        "start": start,
        "end": end,
    }


def aggregate_entities(
    text: str,
    scores: np.ndarray,
    offsets: Sequence[tuple[int, int]],
    word_ids: Sequence[int | None],
    labels: Sequence[str],
) -> list[Entity]:
    """The entities of one text from its per-token ``scores`` [tokens, labels] ("simple" aggregation).

    ``offsets`` and ``word_ids`` are the tokenizer's, one per token (``None`` word id: a special token,
    skipped); rows past ``len(offsets)`` (padding) are ignored.
    """
    tokens: list[tuple[str, float, int, int]] = []
    for index, (span, word) in enumerate(zip(offsets, word_ids, strict=True)):
        if word is None:
            continue
        best = int(np.argmax(scores[index]))
        tokens.append((str(labels[best]), float(scores[index, best]), int(span[0]), int(span[1])))
    groups: list[Entity] = []
    current: list[tuple[str, float, int, int]] = []
    for token in tokens:
        if current:
            position, kind = _tag(token[0])
            _, last_kind = _tag(current[-1][0])
            if kind == last_kind and position != "B":
                current.append(token)
                continue
            groups.append(_group(text, current))
        current = [token]
    if current:
        groups.append(_group(text, current))
    return [group for group in groups if group["entity_group"] != _OUTSIDE]


def truncate_embeddings(
    embeddings: np.ndarray, dimensions: int | None, *, full: int, normalized: bool, allowed: bool
) -> np.ndarray:
    """``embeddings`` cut to their first ``dimensions`` (re-normalised to unit length when the model normalises).

    InvalidInputError when the model does not allow truncation or ``dimensions`` is out of 1..``full``.
    """
    if dimensions is None or dimensions == full:
        return embeddings
    if not 1 <= dimensions <= full:
        raise InvalidInputError(f"dimensions must be between 1 and {full} for this model, got {dimensions}")
    if not allowed:
        raise InvalidInputError(
            f"this model's embeddings have {full} dimensions and cannot be shortened "
            "(its bundle does not declare truncatable embeddings: package it with --truncatable-embeddings if it "
            f"was trained for that); omit dimensions or ask for {full}"
        )
    cut = np.ascontiguousarray(embeddings[:, :dimensions])
    if normalized:
        norms = np.linalg.norm(cut, axis=1, keepdims=True)
        cut = cut / np.maximum(norms, np.finfo(cut.dtype).tiny)
    return cut.astype(embeddings.dtype, copy=False)
