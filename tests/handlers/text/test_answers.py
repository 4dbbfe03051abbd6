"""Post-processing of text-model outputs: top-k, entity aggregation ("simple"), embedding truncation."""

from __future__ import annotations

import numpy as np
import pytest

from handlers.errors import InvalidInputError
from handlers.text.answers import aggregate_entities, top_k_labels, truncate_embeddings

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def _one_hot(labels: list[str], score: float = 0.9) -> np.ndarray:
    rows = np.full((len(labels), len(LABELS)), (1 - score) / (len(LABELS) - 1), dtype=np.float32)
    for row, label in enumerate(labels):
        rows[row, LABELS.index(label)] = score
    return rows


def test_top_k_orders_by_score_and_caps_at_the_label_count() -> None:
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]], dtype=np.float32)
    labels = ["neg", "pos", "neutral"]
    assert top_k_labels(scores, labels, 1) == [
        [{"label": "pos", "score": pytest.approx(0.7)}],
        [{"label": "neg", "score": pytest.approx(0.5)}],
    ]
    everything = top_k_labels(scores, labels, None)
    assert [item["label"] for item in everything[0]] == ["pos", "neutral", "neg"]
    assert len(top_k_labels(scores, labels, 10)[1]) == 3


def test_simple_aggregation_groups_word_pieces_with_character_offsets() -> None:
    text = "John Smithson lives in New York"
    # [CLS] john smith ##son lives in new york [SEP] [PAD]
    offsets = [(0, 0), (0, 4), (5, 10), (10, 13), (14, 19), (20, 22), (23, 26), (27, 31), (0, 0), (0, 0)]
    word_ids = [None, 0, 1, 1, 2, 3, 4, 5, None, None]
    tags = ["O", "B-PER", "I-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "B-LOC", "B-PER"]
    entities = aggregate_entities(text, _one_hot(tags), offsets, word_ids, LABELS)
    assert entities == [
        {"entity_group": "PER", "score": pytest.approx(0.9), "word": "John Smithson", "start": 0, "end": 13},
        {"entity_group": "LOC", "score": pytest.approx(0.9), "word": "New York", "start": 23, "end": 31},
    ]


def test_a_b_tag_starts_a_new_entity_and_scores_are_means() -> None:
    text = "Ann Bob"
    scores = _one_hot(["B-PER", "B-PER"])
    scores[1] = [0.0, 0.5, 0.3, 0.1, 0.1]
    entities = aggregate_entities(text, scores, [(0, 3), (4, 7)], [0, 1], LABELS)
    assert [(e["word"], e["score"]) for e in entities] == [("Ann", pytest.approx(0.9)), ("Bob", pytest.approx(0.5))]
    merged = aggregate_entities(text, _one_hot(["B-PER", "I-PER"], 0.6), [(0, 3), (4, 7)], [0, 1], LABELS)
    assert merged == [{"entity_group": "PER", "score": pytest.approx(0.6), "word": "Ann Bob", "start": 0, "end": 7}]


def test_labels_without_bio_prefixes_group_by_label() -> None:
    labels = ["O", "PER"]
    scores = np.array([[0.1, 0.9], [0.2, 0.8], [0.9, 0.1]], dtype=np.float32)
    entities = aggregate_entities("Al Bo x", scores, [(0, 2), (3, 5), (6, 7)], [0, 1, 2], labels)
    assert entities == [{"entity_group": "PER", "score": pytest.approx(0.85), "word": "Al Bo", "start": 0, "end": 5}]


def test_truncation_renormalises_when_the_model_normalises() -> None:
    vectors = np.array([[3.0, 4.0, 12.0]], dtype=np.float32) / 13.0
    cut = truncate_embeddings(vectors, 2, full=3, normalized=True, allowed=True)
    assert cut.dtype == np.float32 and cut.shape == (1, 2)
    np.testing.assert_allclose(cut, [[0.6, 0.8]], rtol=1e-6)
    raw = truncate_embeddings(vectors, 2, full=3, normalized=False, allowed=True)
    np.testing.assert_allclose(raw, vectors[:, :2])
    assert truncate_embeddings(vectors, 3, full=3, normalized=True, allowed=False) is vectors


@pytest.mark.parametrize(
    ("dimensions", "allowed", "message"),
    [(2, False, "cannot be shortened"), (0, True, "between 1 and 3"), (4, True, "between 1 and 3")],
)
def test_truncation_refusals_name_the_limit(dimensions: int, allowed: bool, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        truncate_embeddings(np.ones((1, 3), np.float32), dimensions, full=3, normalized=True, allowed=allowed)
