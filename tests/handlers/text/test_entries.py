"""Text models through real clients and entry points: the openai client and tritonclient against ``maaskit serve``,
the Lambda handler with API Gateway events, and the SageMaker container entry."""

from __future__ import annotations

import base64
import importlib
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.handlers.events import LambdaContext, load_event
from tests.handlers.test_sagemaker_entry import free_port, start
from tests.handlers.text.bundles import TextBundles

pytestmark = pytest.mark.torch  # the reference models and the packaging run on torch

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def served(text_bundles: TextBundles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``maaskit serve`` in its own process on a loopback port, stopped by its pid."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAASKIT_")}
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    command = [
        sys.executable,
        "-m",
        "maaskit",
        "serve",
        *map(str, text_bundles.all),
        "--port",
        str(port),
        "--threads",
        "1",
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"maaskit serve did not become ready:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(15)


def test_the_openai_client_embeds_in_float_and_base64(served: str, reference) -> None:
    from openai import BadRequestError, NotFoundError, OpenAI

    client = OpenAI(base_url=served + "/v1", api_key="x", max_retries=0, timeout=30)
    texts = ["John Smith lives in New York.", "The quick brown fox."]
    want = reference["embedder"].encode(texts)
    packed = client.embeddings.create(model="embedder", input=texts)  # the client asks for base64 by default
    floats = client.embeddings.create(model="embedder", input=texts, encoding_format="float")
    for answer in (packed, floats):
        got = np.asarray([item.embedding for item in answer.data], dtype=np.float32)
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert answer.model == "embedder" and answer.usage.prompt_tokens == answer.usage.total_tokens > 0
    short = client.embeddings.create(model="embedder", input="hello", dimensions=16)
    assert len(short.data[0].embedding) == 16
    assert [model.id for model in client.models.list()] == ["embedder"]  # only what /v1/embeddings serves
    with pytest.raises(BadRequestError) as refused:
        client.embeddings.create(model="embedder", input=[])
    body: Any = refused.value.body  # the client keeps the "error" object
    assert body["param"] == "input"
    with pytest.raises(NotFoundError):
        client.embeddings.create(model="missing", input="x")


def test_tritonclient_sends_texts_as_binary_bytes(served: str, reference) -> None:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(served.removeprefix("http://"))
    texts = np.asarray([b"John Smith lives in New York.", "Caf\u00e9 cr\u00e8me".encode()], dtype=object)
    given = triton.InferInput("text", [2], "BYTES")
    given.set_data_from_numpy(texts, binary_data=True)
    result = client.infer(
        "embedder", [given], outputs=[triton.InferRequestedOutput("sentence_embedding", binary_data=True)]
    )
    np.testing.assert_allclose(
        result.as_numpy("sentence_embedding"), reference["embedder"].encode([t.decode() for t in texts]), atol=1e-5
    )


@pytest.fixture(scope="module")
def lambda_module(text_bundles: TextBundles):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MAASKIT_BUNDLES", os.pathsep.join(map(str, text_bundles.all)))
        patch.setenv("MAASKIT_INTRA_OP_THREADS", "1")
        patch.delenv("MAASKIT_METRICS", raising=False)
        sys.modules.pop("handlers.lambda_entry", None)
        yield importlib.import_module("handlers.lambda_entry")
        sys.modules.pop("handlers.lambda_entry", None)


def test_lambda_http_api_event_embeds_texts(lambda_module, reference) -> None:
    event = load_event("apigw_v2_embeddings")
    response = lambda_module.handler(event, LambdaContext())
    assert response["statusCode"] == 200, response
    answer = json.loads(response["body"])
    vectors = [np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4") for item in answer["data"]]
    texts = json.loads(event["body"])["input"]
    np.testing.assert_allclose(vectors, reference["embedder"].encode(texts), atol=1e-5)


def test_lambda_rest_event_classifies_raw_text(lambda_module, reference) -> None:
    event = load_event("apigw_v1_text_classification")
    response = lambda_module.handler(event, LambdaContext())
    assert response["statusCode"] == 200, response
    predictions = json.loads(response["body"])["predictions"]
    texts = json.loads(event["body"])["inputs"]["text"]
    want = reference["sentiment"](texts, top_k=2)
    assert [[item["label"] for item in row] for row in predictions] == [[item["label"] for item in row] for row in want]


def test_sagemaker_entry_serves_a_text_model_archive(text_bundles: TextBundles, tmp_path: Path, reference) -> None:
    model_dir = tmp_path / "opt-ml-model"
    with tarfile.open(text_bundles.ner.with_name(text_bundles.ner.name + ".tar.gz")) as archive:
        archive.extractall(model_dir, filter="data")
    server = start(model_dir, tmp_path / "entry.log")
    try:
        text = "Angela Merkel met Emmanuel Macron in Strasbourg on Tuesday morning."
        response = httpx.post(f"{server.url}/invocations", json={"inputs": text}, timeout=30)
        assert response.status_code == 200, response.text
        want = reference["ner"](text)
        assert [(e["entity_group"], e["start"], e["end"]) for e in response.json()] == [
            (e["entity_group"], e["start"], e["end"]) for e in want
        ]
        assert want
    finally:
        assert server.stop() in (0, -15)


def test_serving_text_bundles_imports_tokenizers_but_no_framework(text_bundles: TextBundles) -> None:
    code = (
        "import sys\n"
        "from handlers import lambda_entry\n"
        "assert lambda_entry is not None\n"
        "loaded = {name.split('.')[0] for name in sys.modules}\n"
        "print(sorted(loaded & {'torch', 'transformers', 'sentence_transformers', 'model_packager', 'tokenizers'}))\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAASKIT_")}
    env.update(MAASKIT_BUNDLES=os.pathsep.join(map(str, text_bundles.all)), MAASKIT_INTRA_OP_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "['tokenizers']"


def test_lambda_rest_event_on_a_models_own_openai_base_url(lambda_module, reference) -> None:
    event = load_event("apigw_v1_scoped_embeddings")  # /models/embedder/{proxy+} on a REST API
    response = lambda_module.handler(event, LambdaContext())
    assert response["statusCode"] == 200, response
    answer = json.loads(response["body"])
    vectors = [np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4") for item in answer["data"]]
    np.testing.assert_allclose(vectors, reference["embedder"].encode(json.loads(event["body"])["input"]), atol=1e-5)
