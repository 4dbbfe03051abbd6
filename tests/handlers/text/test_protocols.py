"""Raw text through every protocol, for each task, checked against the original models on torch."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest

from tests.handlers.conftest import asgi_post
from tests.handlers.text.bundles import NER, SENTIMENT
from tests.handlers.text.folders import CORPUS

pytestmark = pytest.mark.torch  # the reference models and the packaging run on torch

TEXTS = [CORPUS[0], CORPUS[7], CORPUS[8]]


def _hf_entities(reference, text: str) -> list[tuple[str, int, int, float]]:
    return [(e["entity_group"], e["start"], e["end"], float(e["score"])) for e in reference["ner"](text)]


def _ours(entities) -> list[tuple[str, int, int, float]]:
    return [(e["entity_group"], e["start"], e["end"], e["score"]) for e in entities]


def _same_entities(got, want) -> None:
    assert want, "the reference found no entities: the comparison would prove nothing"
    assert [item[:3] for item in got] == [item[:3] for item in want]
    np.testing.assert_allclose([item[3] for item in got], [item[3] for item in want], rtol=1e-4, atol=1e-5)


def test_maaskit_json_each_task(text_app, reference) -> None:
    body = {"inputs": {"text": TEXTS}}
    embedded = asgi_post(text_app, "/models/embedder/predict", json=body).json()
    assert embedded["task"] == "feature-extraction"
    np.testing.assert_allclose(embedded["predictions"], reference["embedder"].encode(TEXTS), atol=1e-5)

    ranked = asgi_post(text_app, "/models/sentiment/predict", json={**body, "parameters": {"top_k": 2}}).json()
    want = reference["sentiment"](TEXTS, top_k=2)
    assert [[item["label"] for item in row] for row in ranked["predictions"]] == [
        [w["label"] for w in row] for row in want
    ]
    np.testing.assert_allclose(
        [[item["score"] for item in row] for row in ranked["predictions"]],
        [[w["score"] for w in row] for row in want],
        rtol=1e-4,
    )
    top = asgi_post(text_app, "/models/sentiment/predict", json=body).json()
    assert all(len(row) == 1 for row in top["predictions"])

    entities = asgi_post(text_app, "/models/ner/predict", json=body).json()["predictions"]
    for text, found in zip(TEXTS, entities, strict=True):
        _same_entities(_ours(found), _hf_entities(reference, text))
        for entity in found:
            assert entity["word"] == text[entity["start"] : entity["end"]]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"inputs": {"text": []}}, "holds no texts"),
        ({"inputs": {"text": ["ok", 7]}}, '"inputs.text"[1] must be a string'),
        ({"inputs": {"text": 7}}, "must be a string or a list of strings"),
        ({"inputs": {"text": ["ok"], "input_ids": [[1]]}}, "not both"),
        ({"inputs": {"text": ["ok"]}, "parameters": {"top_k": 0}}, "top_k must be a positive whole number"),
        (
            {"inputs": {"input_ids": [[2, 5000]], "attention_mask": [[1, 1]], "token_type_ids": [[0, 0]]}},
            "< vocab_size",
        ),
    ],
)
def test_maaskit_json_bad_text_is_a_400_naming_it(text_app, body, words) -> None:
    response = asgi_post(text_app, "/models/sentiment/predict", json=body)
    assert response.status_code == 400, response.text
    assert words in response.json()["error"]["message"]


def test_oip_bytes_json_each_task(text_app, reference) -> None:
    def infer(model: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        request = {
            "inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(TEXTS)], "data": TEXTS}],
            **(extra or {}),
        }
        response = asgi_post(text_app, f"/v2/models/{model}/infer", json=request)
        assert response.status_code == 200, response.text
        return {item["name"]: item for item in response.json()["outputs"]}

    embedding = infer("embedder")["sentence_embedding"]
    assert embedding["datatype"] == "FP32" and embedding["shape"] == [3, 32]
    np.testing.assert_allclose(np.reshape(embedding["data"], (3, 32)), reference["embedder"].encode(TEXTS), atol=1e-5)

    outputs = infer("sentiment", {"outputs": [{"name": "scores", "parameters": {"classification": 1}}]})
    best = [entry.split(":")[2] for entry in outputs["scores"]["data"]]
    assert best == [row[0]["label"] for row in reference["sentiment"](TEXTS, top_k=1)]

    found = infer("ner")
    assert found["entities"]["datatype"] == "BYTES" and found["scores"]["shape"][2] == len(NER)
    for text, document in zip(TEXTS, found["entities"]["data"], strict=True):
        _same_entities(_ours(json.loads(document)), _hf_entities(reference, text))


def test_oip_refuses_texts_mixed_with_tensors(text_app) -> None:
    request = {
        "inputs": [
            {"name": "text", "datatype": "BYTES", "shape": [1], "data": ["x"]},
            {"name": "input_ids", "datatype": "INT64", "shape": [1, 1], "data": [2]},
        ]
    }
    response = asgi_post(text_app, "/v2/models/sentiment/infer", json=request)
    assert response.status_code == 400 and "one BYTES input" in response.json()["error"]


def test_tf_serving_instances_of_strings_b64_and_columnar(text_app, reference) -> None:
    want = [row[0]["label"] for row in reference["sentiment"](TEXTS, top_k=1)]
    instances = [TEXTS[0], {"b64": base64.b64encode(TEXTS[1].encode()).decode()}, {"text": TEXTS[2]}]
    rows = asgi_post(text_app, "/v1/models/sentiment:predict", json={"instances": instances}).json()
    assert [row[0]["label"] for row in rows["predictions"]] == want
    columnar = asgi_post(text_app, "/v1/models/embedder:predict", json={"inputs": {"text": TEXTS}}).json()
    np.testing.assert_allclose(columnar["outputs"], reference["embedder"].encode(TEXTS), atol=1e-5)
    bad = asgi_post(text_app, "/v1/models/sentiment:predict", json={"instances": [{"b64": "%%%"}]})
    assert bad.status_code == 400 and "b64" in bad.json()["error"]
    empty = asgi_post(text_app, "/v1/models/sentiment:predict", json={"instances": []})
    assert empty.status_code == 400


def test_torchserve_text_plain_and_json(text_app, reference) -> None:
    one = asgi_post(
        text_app, "/predictions/sentiment", content=TEXTS[0].encode(), headers={"content-type": "text/plain"}
    )
    assert one.status_code == 200, one.text
    scores = one.json()
    want = reference["sentiment"](TEXTS[0], top_k=None)
    assert list(scores) == [item["label"] for item in want]
    np.testing.assert_allclose(list(scores.values()), [item["score"] for item in want], rtol=1e-4)
    assert set(scores) == set(SENTIMENT)
    top = asgi_post(
        text_app, "/predictions/sentiment?top_k=1", content=TEXTS[0].encode(), headers={"content-type": "text/plain"}
    )
    assert list(top.json()) == [want[0]["label"]]

    listed = asgi_post(text_app, "/predictions/ner", json={"data": TEXTS}).json()
    for text, found in zip(TEXTS, listed, strict=True):
        _same_entities(_ours(found), _hf_entities(reference, text))

    image = asgi_post(text_app, "/predictions/sentiment", content=b"\x89PNG", headers={"content-type": "image/png"})
    assert image.status_code == 415 and image.json()["type"] == "BadRequestException"
    assert "text/plain or application/json" in image.json()["message"]


def test_sagemaker_hugging_face_toolkit_shapes(text_app, reference) -> None:
    def invoke(model: str, body: dict[str, Any]) -> Any:
        response = asgi_post(text_app, "/invocations", json=body, headers={"X-Maaskit-Model": model})
        assert response.status_code == 200, response.text
        return response.json()

    vectors = invoke("embedder", {"inputs": TEXTS})
    np.testing.assert_allclose(vectors, reference["embedder"].encode(TEXTS), atol=1e-5)
    assert np.shape(invoke("embedder", {"inputs": TEXTS[0]})) == (1, 32)

    single = invoke("sentiment", {"inputs": TEXTS[0]})
    hf_single = reference["sentiment"](TEXTS[0])
    assert [item["label"] for item in single] == [item["label"] for item in hf_single] and len(single) == 1
    many = invoke("sentiment", {"inputs": TEXTS})
    assert [item["label"] for item in many] == [item["label"] for item in reference["sentiment"](TEXTS)]
    ranked = invoke("sentiment", {"inputs": TEXTS, "parameters": {"top_k": 2}})
    assert [[i["label"] for i in row] for row in ranked] == [
        [i["label"] for i in row] for row in reference["sentiment"](TEXTS, top_k=2)
    ]

    entities = invoke("ner", {"inputs": TEXTS[0]})
    _same_entities(_ours(entities), _hf_entities(reference, TEXTS[0]))
    assert set(entities[0]) == {"entity_group", "score", "word", "start", "end"} if entities else True

    csv = asgi_post(
        text_app, "/invocations", content=b"a,b", headers={"X-Maaskit-Model": "ner", "content-type": "text/csv"}
    )
    assert csv.status_code == 415 and "application/json" in csv.json()["error"]
    npy = asgi_post(
        text_app, "/invocations", json={"inputs": "x"}, headers={"X-Maaskit-Model": "ner", "accept": "text/csv"}
    )
    assert npy.status_code == 406
