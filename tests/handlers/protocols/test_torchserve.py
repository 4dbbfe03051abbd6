"""TorchServe inference API over real HTTP: one example, batches, CSV, versions, TorchServe errors."""

from __future__ import annotations

import numpy as np
import pytest


def test_single_example_answers_label_probabilities(http, samples):
    sample = samples["iris"]
    answer = http.post("/predictions/iris", json=sample.inputs["X"][0].tolist()).json()
    assert next(iter(answer)) == sample.outputs["label"][0]
    assert list(answer.values()) == sorted(answer.values(), reverse=True)
    by_label = dict(zip(["setosa", "versicolor", "virginica"], sample.outputs["probabilities"][0], strict=True))
    for label, value in answer.items():
        assert value == pytest.approx(float(by_label[label]), abs=1e-4)


def test_batch_answers_one_entry_per_row(http, samples):
    sample = samples["iris"]
    answer = http.post("/predictions/iris", json=sample.inputs["X"].tolist()).json()
    assert [next(iter(row)) for row in answer] == sample.outputs["label"].tolist()


def test_regressor_and_versions(http, samples):
    sample = samples["diabetes"]
    answer = http.post("/predictions/diabetes", json={"instances": sample.inputs["X"].tolist()}).json()
    np.testing.assert_allclose(answer, sample.outputs["variable"], rtol=1e-4, atol=1e-3)
    csv_body = "1,2,3,4\n5,6,7,8\n"
    assert http.post("/predictions/adder/1.0.0", content=csv_body, headers={"content-type": "text/csv"}).json() == [
        [4, 6],
        [12, 14],
    ]
    assert http.post("/predictions/adder", content=csv_body, headers={"content-type": "text/csv"}).json() == [
        [8, 12],
        [24, 28],
    ]


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "kind"),
    [
        ("/predictions/nope", {"json": [1, 2, 3, 4]}, 404, "ModelNotFoundException"),
        ("/predictions/iris/4.0.0", {"json": [1, 2, 3, 4]}, 404, "ModelVersionNotFoundException"),
        ("/predictions/iris", {"json": [1, 2, 3]}, 400, "BadRequestException"),
        (
            "/predictions/iris",
            {"content": b"a,b,c,d", "headers": {"content-type": "text/csv"}},
            400,
            "BadRequestException",
        ),
        (
            "/predictions/iris",
            {"content": b"\x00", "headers": {"content-type": "image/png"}},
            415,
            "BadRequestException",
        ),
    ],
)
def test_errors_are_torchserve_shaped(http, path, kwargs, status, kind):
    response = http.post(path, **kwargs)
    assert response.status_code == status
    body = response.json()
    assert body["code"] == status
    assert body["type"] == kind
    assert body["message"]
