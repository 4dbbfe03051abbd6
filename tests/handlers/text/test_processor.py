"""The text processor behind the family-neutral seam: created once per bundle, token ids as an explicit input kind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import bundle.processing.text as text_encoding
import handlers.text.processor as text_processor
from bundle import open_bundle
from handlers.engine import ModelRepository, load_runtime
from handlers.processing import processor_for
from handlers.settings import Settings
from handlers.vocabulary import Inputs
from tests.handlers.conftest import asgi_post
from tests.handlers.text.bundles import TextBundles
from tests.handlers.text.folders import CORPUS

pytestmark = pytest.mark.torch  # the bundles are packaged from torch models


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """How often a tokenizer is loaded and a batch of texts encoded, wherever it happens."""
    counts = {"loads": 0, "encodes": 0}
    load, encode = text_encoding.load_tokenizer, text_encoding.TextEncoder.encode

    def counting_load(*args: Any, **kwargs: Any) -> Any:
        counts["loads"] += 1
        return load(*args, **kwargs)

    def counting_encode(self: Any, texts: Any) -> Any:
        counts["encodes"] += 1
        return encode(self, texts)

    monkeypatch.setattr(text_encoding, "load_tokenizer", counting_load)
    monkeypatch.setattr(text_processor, "load_tokenizer", counting_load)
    monkeypatch.setattr(text_encoding.TextEncoder, "encode", counting_encode)
    yield counts


def test_creating_a_processor_loads_the_tokenizer_once_and_encodes_nothing(
    text_bundles: TextBundles, counted: dict[str, int]
) -> None:
    processor = processor_for(open_bundle(text_bundles.embedder))
    assert counted == {"loads": 1, "encodes": 0}
    processor.preprocess(Inputs(raw=["one text"]))
    assert counted == {"loads": 1, "encodes": 1}


def test_a_text_cold_start_tokenizes_its_samples_once(
    text_bundles: TextBundles, text_settings: Settings, counted: dict[str, int]
) -> None:
    runtime = load_runtime(text_bundles.sentiment, text_settings)
    assert runtime.ready
    assert counted["encodes"] == 1, "the warm-up encoded the sample texts more than once"
    assert counted["loads"] == 1, "tokenizer.json was loaded more than once"


def _oip(app: Any, model: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    response = asgi_post(app, f"/v2/models/{model}/infer", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    return {item["name"]: item for item in response.json()["outputs"]}


@pytest.mark.parametrize("datatype", ["INT64", "INT32"])
def test_token_ids_are_one_kind_of_input_over_json_lists_and_oip_tensors(
    text_app: Any, text_repository: ModelRepository, datatype: str
) -> None:
    text = CORPUS[0]
    ids = text_repository.get("embedder").processor.encoder.encode([text]).feed["input_ids"][0].tolist()
    by_text = _oip(text_app, "embedder", [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [text]}])
    by_ids = _oip(
        text_app, "embedder", [{"name": "input_ids", "datatype": datatype, "shape": [1, len(ids)], "data": ids}]
    )
    np.testing.assert_allclose(by_ids["sentence_embedding"]["data"], by_text["sentence_embedding"]["data"], atol=1e-5)
    openai = asgi_post(text_app, "/v1/embeddings", json={"model": "embedder", "input": [ids]}).json()
    np.testing.assert_allclose(openai["data"][0]["embedding"], by_text["sentence_embedding"]["data"], atol=1e-5)
    too_big = [{"name": "input_ids", "datatype": datatype, "shape": [1, 2], "data": [2, 10**6]}]
    refused = asgi_post(text_app, "/v2/models/embedder/infer", json={"inputs": too_big})
    assert refused.status_code == 400 and "< vocab_size" in refused.json()["error"]


def test_only_embedding_models_have_an_embedder(text_repository: ModelRepository) -> None:
    embedders = {runtime.name for runtime in text_repository if runtime.processor.embedder is not None}
    assert embedders == {"embedder"}
