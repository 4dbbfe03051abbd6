"""Warm-up of text bundles: the stored sample texts are re-encoded and judged by the bundle's text parity rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from bundle import open_bundle
from handlers.engine import ModelRepository, load_runtime
from handlers.warmup import WarmupMismatchError, check_text_outputs
from tests.handlers.conftest import asgi_post
from tests.handlers.text.folders import CORPUS

pytestmark = pytest.mark.torch  # the reference models and the packaging run on torch


def _tampered(runtime: Any, change: Callable[[dict[str, np.ndarray], np.ndarray], None]) -> Callable[..., Any]:
    """``runtime.run`` with its outputs changed by ``change(outputs, attention_mask)``."""

    def run(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = {name: value.copy() for name, value in runtime.run(feed).items()}
        change(outputs, feed["attention_mask"])
        return outputs

    return run


def _check(runtime: Any, run: Callable[..., Any]) -> None:
    samples = runtime.bundle.samples()
    check_text_outputs(runtime.manifest, runtime.bundle.root, samples, run, accelerator=False)


def test_every_text_bundle_is_warm_after_loading(text_repository: ModelRepository) -> None:
    assert text_repository.ready
    assert {runtime.manifest.task for runtime in text_repository} == {
        "feature-extraction",
        "text-classification",
        "token-classification",
    }


def test_embeddings_that_lose_their_direction_are_refused(text_repository: ModelRepository) -> None:
    runtime = text_repository.get("embedder")
    _check(runtime, runtime.run)

    def reverse(outputs: dict[str, np.ndarray], mask: np.ndarray) -> None:
        outputs["sentence_embedding"] = outputs["sentence_embedding"][::-1].copy()

    with pytest.raises(WarmupMismatchError, match="cosine"):
        _check(runtime, _tampered(runtime, reverse))


def test_token_scores_on_padding_are_not_judged(text_repository: ModelRepository) -> None:
    runtime = text_repository.get("ner")

    def pad_noise(outputs: dict[str, np.ndarray], mask: np.ndarray) -> None:
        for value in outputs.values():
            value[mask == 0] = 42.0  # padding positions carry no prediction

    def token_noise(outputs: dict[str, np.ndarray], mask: np.ndarray) -> None:
        outputs["scores"][mask == 1] = 0.5

    _check(runtime, _tampered(runtime, pad_noise))
    with pytest.raises(WarmupMismatchError):
        _check(runtime, _tampered(runtime, token_noise))


@pytest.mark.slow
def test_an_int8_embedder_warms_up_and_serves_close_to_the_original(text_bundles, text_settings, tmp_path, reference):
    from handlers.app import create_app
    from model_packager import package

    result = package(
        text_bundles.folders["embedder"], name="embedder", version="1.1.0", task="feature-extraction",
        sample=list(CORPUS), out=tmp_path, quantize="int8",
    )  # fmt: skip
    optimization = open_bundle(result.directory).manifest.optimization
    assert optimization is not None and optimization.quantization == "int8"
    runtime = load_runtime(result.directory, text_settings)
    assert runtime.ready
    app = create_app(ModelRepository([runtime]), text_settings)
    answer = asgi_post(app, "/v1/embeddings", json={"model": "embedder", "input": list(CORPUS)}).json()
    got = np.asarray([item["embedding"] for item in answer["data"]])
    want = reference["embedder"].encode(list(CORPUS))
    cosine = (got * want).sum(axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cosine.min() >= 0.99
