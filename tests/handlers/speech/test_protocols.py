"""Audio on every protocol over real HTTP: SageMaker, TorchServe, OIP v2, TF Serving, maaskit JSON, and Lambda.

Each route answers the transcript the runtime gives for the same file, in its own shape, and refuses bad
input with a 4xx in its own error shape that says what to fix.
"""

from __future__ import annotations

import base64
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import numpy as np
import pytest

from handlers.speech.runtime import SpeechRuntime
from tests.handlers.events import LambdaContext, load_event
from tests.speechmodels import encode, speech

MODELS = ("tiny-ctc", "tiny-whisper")


@pytest.fixture(scope="module")
def flac() -> bytes:
    return encode(speech(4.0, 44100, seed=3), 44100, "FLAC")


@pytest.fixture(scope="module")
def expected(speech_runtimes: list[SpeechRuntime], flac: bytes) -> dict[str, str]:
    """What each model transcribes ``flac`` to, asked in-process."""
    return {runtime.name: runtime.transcribe(flac)["text"] for runtime in speech_runtimes}


def _post(live, path: str, **kwargs) -> httpx.Response:
    return httpx.post(f"{live.url}{path}", timeout=60, **kwargs)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("media", ["audio/flac", "audio/x-flac", "application/octet-stream"])
def test_sagemaker_audio_bodies_answer_the_toolkit_shape(speech_live, expected, flac, model: str, media: str) -> None:
    headers = {"content-type": media, "x-amzn-sagemaker-custom-attributes": f"model={model}"}
    answer = _post(speech_live, "/invocations", content=flac, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"text": expected[model]}


def test_sagemaker_json_base64_with_timestamps_answers_chunks(speech_live, expected, flac) -> None:
    body = {"inputs": _b64(flac), "parameters": {"return_timestamps": True}}
    answer = _post(speech_live, "/invocations", json=body, headers={"x-maaskit-model": "tiny-whisper"})
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["text"] == expected["tiny-whisper"] or got["text"].strip()  # timestamps: windowed decoding
    starts = [chunk["timestamp"][0] for chunk in got["chunks"]]
    assert starts == sorted(starts) and all(
        0 <= a <= b <= 4.0 + 1e-6 for a, b in (c["timestamp"] for c in got["chunks"])
    )


def test_the_pipelines_generate_kwargs_choose_language_task_and_temperature(speech_live, speech_runtimes, flac) -> None:
    """The Hugging Face ASR pipeline's ``generate_kwargs``: a language as a code, a token or a name."""
    runtime = next(r for r in speech_runtimes if r.name == "tiny-whisper")
    french = runtime.transcribe(flac, language="fr")["text"]
    headers = {"x-maaskit-model": "tiny-whisper"}
    for language in ("fr", "<|fr|>", "French"):
        body = {"inputs": _b64(flac), "parameters": {"generate_kwargs": {"language": language, "task": "transcribe"}}}
        answer = _post(speech_live, "/invocations", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"text": french}, language
    beams = {"inputs": _b64(flac), "parameters": {"generate_kwargs": {"num_beams": 5}}}
    refused = _post(speech_live, "/invocations", json=beams, headers=headers)
    assert refused.status_code == 400 and "num_beams" in refused.text and "language" in refused.text


@pytest.mark.parametrize("model", MODELS)
def test_torchserve_takes_the_file_as_its_body(speech_live, expected, flac, model: str) -> None:
    for headers in ({"content-type": "audio/flac"}, {}):  # no Content-Type: not JSON, so the model's file kind
        answer = _post(speech_live, f"/predictions/{model}", content=flac, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"text": expected[model]}


@pytest.mark.parametrize("model", MODELS)
def test_oip_binary_bytes_tensor_with_tritonclient(speech_live, expected, flac, model: str) -> None:
    client_module = pytest.importorskip("tritonclient.http")
    client = client_module.InferenceServerClient(speech_live.url.removeprefix("http://"))
    audio = client_module.InferInput("audio", [1], "BYTES")
    audio.set_data_from_numpy(np.asarray([flac], dtype=np.object_), binary_data=True)
    result = client.infer(model, [audio], outputs=[client_module.InferRequestedOutput("text", binary_data=False)])
    text = result.as_numpy("text")[0]
    assert (text.decode() if isinstance(text, bytes) else text) == expected[model]


def test_oip_json_bytes_carry_base64_and_parameters(speech_live, expected, flac) -> None:
    body = {
        "inputs": [{"name": "audio", "datatype": "BYTES", "shape": [2], "data": [_b64(flac), _b64(flac)]}],
        "parameters": {"language": "en"},
    }
    answer = _post(speech_live, "/v2/models/tiny-whisper/infer", json=body)
    assert answer.status_code == 200, answer.text
    outputs = {output["name"]: output for output in answer.json()["outputs"]}
    assert outputs["text"]["data"] == [expected["tiny-whisper"]] * 2
    assert json.loads(outputs["transcript"]["data"][0])["language"] == "en"


@pytest.mark.parametrize(
    "body",
    [
        lambda data: {"inputs": {"audio": {"b64": _b64(data)}}},
        lambda data: {"inputs": {"b64": _b64(data)}},
        lambda data: {"inputs": {"recording": _b64(data)}},
    ],
    ids=["named-b64", "unnamed-b64", "any-name-base64-string"],
)
def test_maaskit_json_takes_base64_audio(speech_live, expected, flac, body) -> None:
    answer = _post(speech_live, "/models/tiny-ctc/predict", json=body(flac))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "model": "tiny-ctc",
        "version": "1.0.0",
        "task": "automatic-speech-recognition",
        "predictions": {"text": expected["tiny-ctc"]},
    }
    rows = _post(speech_live, "/models/tiny-ctc/predict", json={"rows": [{"b64": _b64(flac)}] * 2})
    assert rows.json()["predictions"] == [{"text": expected["tiny-ctc"]}] * 2


def test_tfserving_instances_carry_b64(speech_live, expected, flac) -> None:
    body = {"instances": [{"b64": _b64(flac)}, {"b64": _b64(flac)}]}
    answer = _post(speech_live, "/v1/models/tiny-whisper:predict", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == [{"text": expected["tiny-whisper"]}] * 2


def test_bad_input_is_a_4xx_in_each_protocol_shape(speech_live, flac) -> None:
    png = {"content-type": "image/png", "x-maaskit-model": "tiny-ctc"}
    sagemaker = _post(speech_live, "/invocations", content=b"\x89PNG", headers=png)
    assert sagemaker.status_code == 415
    assert "send audio/wav, audio/flac, audio/mpeg or application/json" in sagemaker.json()["error"]

    torchserve = _post(speech_live, "/predictions/tiny-ctc", content=b"", headers={"content-type": "audio/wav"})
    assert torchserve.status_code == 400
    assert torchserve.json()["type"] == "BadRequestException" and "the body is empty" in torchserve.json()["message"]

    bad = {"inputs": [{"name": "audio", "datatype": "BYTES", "shape": [1], "data": ["%%%"]}]}
    oip = _post(speech_live, "/v2/models/tiny-ctc/infer", json=bad)
    assert oip.status_code == 400 and "not valid base64" in oip.json()["error"]

    garbage = {"inputs": {"audio": {"b64": _b64(b"garbage " * 50)}}}
    maaskit = _post(speech_live, "/models/tiny-ctc/predict", json=garbage)
    assert maaskit.status_code == 400 and "cannot be read" in maaskit.json()["error"]["message"]

    numbers = _post(speech_live, "/models/tiny-ctc/predict", json={"inputs": {"audio": [0.1, 0.2]}})
    assert numbers.status_code == 400 and "must be an audio file" in numbers.json()["error"]["message"]

    word = {"inputs": _b64(flac), "parameters": {"return_timestamps": "word"}}
    words = _post(speech_live, "/invocations", json=word, headers={"x-maaskit-model": "tiny-ctc"})
    assert words.status_code == 400 and "word timestamps" in words.json()["error"]


@pytest.fixture(scope="module")
def speech_lambda(whisper_bundle: Path) -> Iterator[ModuleType]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MAASKIT_BUNDLES", str(whisper_bundle))
        patch.setenv("MAASKIT_INTRA_OP_THREADS", "1")
        patch.delenv("MAASKIT_METRICS", raising=False)
        sys.modules.pop("handlers.lambda_entry", None)
        yield importlib.import_module("handlers.lambda_entry")
        sys.modules.pop("handlers.lambda_entry", None)


def test_lambda_carries_binary_audio_from_api_gateway(speech_lambda, expected, flac) -> None:
    """API Gateway hands the Lambda a binary body base64-encoded: a raw file and an OpenAI multipart upload."""
    event = load_event("apigw_v1_invocations_jpeg_base64")
    event["body"] = _b64(flac)
    event["headers"]["content-type"] = "audio/flac"
    event["multiValueHeaders"]["content-type"] = ["audio/flac"]
    response = speech_lambda.handler(event, LambdaContext())
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"]) == {"text": expected["tiny-whisper"]}

    multipart = httpx.Request(
        "POST", "http://x", data={"model": "tiny-whisper"}, files={"file": ("a.flac", flac, "audio/flac")}
    )
    event = load_event("apigw_v1_invocations_jpeg_base64")
    event["path"] = event["requestContext"]["path"] = "/v1/audio/transcriptions"
    event["pathParameters"] = {"proxy": "v1/audio/transcriptions"}
    media = multipart.headers["content-type"]
    event["headers"]["content-type"], event["multiValueHeaders"]["content-type"] = media, [media]
    event["body"] = _b64(multipart.read())
    response = speech_lambda.handler(event, LambdaContext())
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["text"] == expected["tiny-whisper"]
