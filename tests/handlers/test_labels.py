"""Class labels: index outputs mapped to names, argmax of probabilities, per-row class scores."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from bundle import TensorSpec, open_bundle
from handlers.answers import class_scores, columnar_outputs, prediction_rows
from handlers.labels import label_output_values, predicted_labels


@pytest.fixture(scope="module")
def manifest(bundles):
    return open_bundle(bundles.iris).manifest


def test_integer_label_output_is_mapped_to_string_labels(manifest):
    indexed = manifest.model_copy(update={"outputs": [TensorSpec(name="label", dtype="int64", shape=[None])]})
    values = label_output_values(indexed, "label", np.asarray([2, 0]))
    assert values.tolist() == ["virginica", "setosa"]
    assert label_output_values(indexed, "other", np.asarray([2, 0])).tolist() == [2, 0]
    out_of_range = label_output_values(indexed, "label", np.asarray([7]))
    assert out_of_range.tolist() == [7]  # not class indices: left as they are


def test_integer_classes_are_values_not_indices(manifest):
    ints = manifest.model_copy(update={"labels": [3, 7, 9]})
    assert label_output_values(ints, "label", np.asarray([7, 3])).tolist() == [7, 3]


def test_labels_from_probabilities_when_there_is_no_label_output(manifest):
    scores_only = manifest.model_copy(update={"label_output": None})
    outputs = {"probabilities": np.asarray([[0.1, 0.7, 0.2], [0.9, 0.05, 0.05]], np.float32)}
    assert predicted_labels(scores_only, outputs) == ["versicolor", "setosa"]
    scores = class_scores(scores_only, outputs)
    assert scores is not None
    assert {label: float(value) for label, value in scores[0].items()} == pytest.approx(
        {"versicolor": 0.7, "virginica": 0.2, "setosa": 0.1}
    )
    assert list(scores[0]) == ["versicolor", "virginica", "setosa"]


def test_regressors_have_no_labels(manifest):
    regressor = manifest.model_copy(update={"task": "regressor"})
    assert predicted_labels(regressor, {"probabilities": np.ones((1, 3))}) is None
    assert class_scores(regressor, {"probabilities": np.ones((1, 3))}) is None


def test_rows_and_columns(manifest):
    outputs = {
        "label": np.asarray(["setosa", "virginica"], dtype=object),
        "probabilities": np.eye(2, 3, dtype=np.float32),
    }
    rows = orjson.loads(orjson.dumps(prediction_rows(manifest, outputs), option=orjson.OPT_SERIALIZE_NUMPY))
    assert [row["label"] for row in rows] == ["setosa", "virginica"]
    assert rows[1]["probabilities"] == [0.0, 1.0, 0.0]
    columns = columnar_outputs(manifest, outputs)
    assert columns["label"] == ["setosa", "virginica"]
