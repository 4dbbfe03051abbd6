"""OpenAI-compatible /v1/embeddings and /v1/models through the app: shapes, fidelity, errors in OpenAI's object."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from tests.handlers.conftest import asgi_get, asgi_post
from tests.handlers.text.folders import CORPUS

pytestmark = pytest.mark.torch  # the reference models and the packaging run on torch

TEXTS = [CORPUS[0], CORPUS[5], "Unbelievably short."]


def _cosines(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    cosine: np.ndarray = (got * want).sum(axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    return cosine


def test_float_embeddings_match_sentence_transformers_with_usage(text_app, reference) -> None:
    response = asgi_post(text_app, "/v1/embeddings", json={"model": "embedder", "input": TEXTS})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["object"] == "list" and answer["model"] == "embedder"
    assert [item["index"] for item in answer["data"]] == [0, 1, 2]
    assert {item["object"] for item in answer["data"]} == {"embedding"}
    got = np.asarray([item["embedding"] for item in answer["data"]], dtype=np.float32)
    want = reference["embedder"].encode(TEXTS, convert_to_numpy=True)
    assert got.shape == (3, 32)
    assert _cosines(got, want).min() >= 0.9999
    tokens = sum(len(ids) for ids in reference["embedder"].tokenizer(TEXTS)["input_ids"])
    assert answer["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}


def test_base64_is_little_endian_float32_of_the_same_vectors(text_app) -> None:
    floats = asgi_post(text_app, "/v1/embeddings", json={"model": "embedder", "input": "hello world"}).json()
    packed = asgi_post(
        text_app, "/v1/embeddings", json={"model": "embedder", "input": "hello world", "encoding_format": "base64"}
    ).json()
    vector = np.frombuffer(base64.b64decode(packed["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(vector, floats["data"][0]["embedding"], rtol=1e-6)


def test_dimensions_truncates_and_renormalises(text_app) -> None:
    full = asgi_post(text_app, "/v1/embeddings", json={"model": "embedder", "input": TEXTS}).json()
    short = asgi_post(text_app, "/v1/embeddings", json={"model": "embedder", "input": TEXTS, "dimensions": 8}).json()
    cut = np.asarray([item["embedding"] for item in short["data"]])
    head = np.asarray([item["embedding"] for item in full["data"]])[:, :8]
    assert cut.shape == (3, 8)
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(cut, head / np.linalg.norm(head, axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_token_arrays_embed_like_the_text_they_encode(text_app, reference) -> None:
    ids = reference["embedder"].tokenizer(TEXTS[:2])["input_ids"]
    by_ids = asgi_post(text_app, "/v1/embeddings", json={"model": "embedder", "input": ids}).json()
    by_text = asgi_post(text_app, "/v1/embeddings", json={"model": "embedder", "input": TEXTS[:2]}).json()
    np.testing.assert_allclose(
        [item["embedding"] for item in by_ids["data"]], [item["embedding"] for item in by_text["data"]], atol=1e-5
    )
    single = asgi_post(text_app, "/v1/embeddings", json={"model": "embedder", "input": ids[0]}).json()
    assert len(single["data"]) == 1 and single["usage"]["prompt_tokens"] == len(ids[0])


@pytest.mark.parametrize(
    ("body", "status", "param", "words"),
    [
        ({"model": "embedder", "input": []}, 400, "input", "empty"),
        ({"model": "embedder", "input": [""]}, 400, "input", "empty string"),
        ({"model": "embedder", "input": ["a", 3]}, 400, "input", "mixes types"),
        ({"model": "embedder"}, 400, "input", "input is required"),
        ({"input": "x"}, 400, "model", "model is required"),
        ({"model": "nope", "input": "x"}, 404, "model", "no model named 'nope'"),
        ({"model": "sentiment", "input": "x"}, 400, "model", "not an embedding model"),
        ({"model": "embedder", "input": "x", "encoding_format": "hex"}, 400, "encoding_format", "'float' or 'base64'"),
        ({"model": "embedder", "input": "x", "dimensions": 64}, 400, "dimensions", "between 1 and 32"),
        ({"model": "embedder", "input": "x", "dimensions": "8"}, 400, "dimensions", "whole number"),
        ({"model": "embedder", "input": [[2, 5, 5000]]}, 400, None, "< vocab_size"),
        ({"model": "embedder", "input": [list(range(2, 200))]}, 400, None, "max_length 128"),
    ],
)
def test_bad_requests_get_openai_error_objects(text_app, body, status, param, words) -> None:
    response = asgi_post(text_app, "/v1/embeddings", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert words in error["message"]
    if status == 404:
        assert error["code"] == "model_not_found"


def test_wrong_content_type_and_oversized_bodies_are_refused_in_openai_shape(text_app) -> None:
    wrong = asgi_post(text_app, "/v1/embeddings", content=b"model=embedder", headers={"content-type": "text/plain"})
    assert wrong.status_code == 415 and "application/json" in wrong.json()["error"]["message"]
    huge = asgi_post(text_app, "/v1/embeddings", json={"model": "embedder", "input": ["word " * 20_000]})
    assert huge.status_code == 413 and huge.json()["error"]["type"] == "invalid_request_error"
    broken = asgi_post(text_app, "/v1/embeddings", content=b"{", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]["message"]


def test_models_list_and_tf_serving_status_route_coexist(text_app) -> None:
    listing = asgi_get(text_app, "/v1/models").json()
    assert listing["object"] == "list"
    assert [item["id"] for item in listing["data"]] == ["embedder"]  # only the models /v1/embeddings serves
    assert all(item["object"] == "model" and isinstance(item["created"], int) for item in listing["data"])
    status = asgi_get(text_app, "/v1/models/embedder")
    assert status.status_code == 200 and status.json()["model_version_status"][0]["state"] == "AVAILABLE"


def test_each_embedding_model_is_an_openai_base_url_of_its_own(text_app) -> None:
    body = {"model": "embedder", "input": TEXTS}
    scoped = asgi_post(text_app, "/models/embedder/v1/embeddings", json=body)
    assert scoped.status_code == 200, scoped.text
    assert scoped.json() == asgi_post(text_app, "/v1/embeddings", json=body).json()
    listed = asgi_get(text_app, "/models/embedder/v1/models").json()
    assert [entry["id"] for entry in listed["data"]] == ["embedder"] and listed["object"] == "list"
    assert asgi_get(text_app, "/models/sentiment/v1/models").json() == {"object": "list", "data": []}


def test_a_scoped_base_url_refuses_another_model_in_openai_shape(text_app) -> None:
    answer = asgi_post(text_app, "/models/embedder/v1/embeddings", json={"model": "sentiment", "input": "x"})
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["param"] == "model" and error["code"] == "model_not_found"
    assert "(/models/embedder/v1) serves model embedder, not sentiment" in error["message"]
    missing = asgi_get(text_app, "/models/nope/v1/models")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
