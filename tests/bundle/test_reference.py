"""Reference statistics: bins, PSI, missing and OOV rates, centroids; deterministic and round-tripped."""

from __future__ import annotations

import numpy as np
import pytest

from bundle import open_bundle
from bundle.reference import (
    Reference,
    centroid_distance,
    feature_columns,
    feature_reference,
    oov_rate,
    psi,
    reference_from_bundle,
    text_reference,
)


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    reference = feature_reference("x", rng.normal(0, 1, 500))
    assert len(reference.edges) == 9 and sum(reference.proportions) == pytest.approx(1.0)
    assert psi(reference, rng.normal(0, 1, 500)) < 0.1
    assert psi(reference, rng.normal(1.5, 1, 500)) > 0.5
    assert psi(reference, []) == 0.0


def test_missing_rate_and_few_values() -> None:
    reference = feature_reference("x", np.array([1.0, np.nan, 2.0, np.nan]))
    assert reference.missing_rate == 0.5 and reference.count == 4
    assert feature_reference("empty", np.array([np.nan])).proportions == [1.0]
    assert feature_reference("one", np.array([3.0])).edges == []


def test_feature_columns_split_2d_inputs_and_skip_strings() -> None:
    columns = feature_columns(
        {"X": np.arange(6).reshape(3, 2), "age": np.array([1, 2, 3]), "t": np.array(["a"], dtype=object)}
    )
    assert set(columns) == {"X[0]", "X[1]", "age"} and columns["X[1]"].tolist() == [1.0, 3.0, 5.0]


def test_oov_rate_knows_wordpiece_bpe_and_unigram_vocabularies() -> None:
    vocabulary = {"the", "\u0120cat", "\u2581sat", "[unk]"}
    assert oov_rate(["The cat sat on"], vocabulary) == 0.25
    assert oov_rate([], vocabulary) == 0.0


def test_centroid_distance() -> None:
    assert centroid_distance([1.0, 0.0], np.array([[1.0, 0.1], [1.0, -0.1]])) == pytest.approx(0.0, abs=1e-9)
    assert centroid_distance([1.0, 0.0], np.array([[0.0, 1.0]])) == pytest.approx(1.0)


def test_a_tabular_bundles_reference_is_deterministic_and_round_trips() -> None:
    from tests.infra.consumers.models import iris_bundle

    reference = reference_from_bundle(open_bundle(iris_bundle()))
    assert reference.kind == "tabular" and [f.name for f in reference.features] == ["X[0]", "X[1]", "X[2]", "X[3]"]
    assert all(f.count == 50 and 2 <= len(f.edges) <= 4 for f in reference.features)  # five bins of ten
    assert reference.to_json() == reference_from_bundle(open_bundle(iris_bundle())).to_json()
    assert Reference.from_json(reference.to_json()) == reference


def test_text_reference_from_texts_and_embeddings() -> None:
    texts = ["the cat sat", "the dog ran far away"]
    reference = text_reference("text", texts, {"the", "cat", "sat", "dog"}, np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert reference.oov_rate == pytest.approx(3 / 8) and reference.centroid == [0.5, 0.5]
    assert reference.length.name == "text.words"
    restored = Reference.from_json(Reference("m", "1", "text", texts=[reference]).to_json())
    assert restored.texts[0] == reference
