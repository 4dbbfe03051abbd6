"""HuBERT and WavLM CTC bundles and a wav2vec2 audio classifier, packaged by ``package()`` and served over real HTTP.

The references are transformers' own pipelines on the same decoded audio: the ``automatic-speech-recognition``
pipeline's greedy CTC transcript (asked with the official ``openai`` client), and the ``audio-classification``
pipeline's softmax scores (asked on SageMaker, maaskit JSON, TorchServe and OIP).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("soundfile")

from bundle.processing.audio import decode_audio
from handlers.app import create_app
from handlers.engine import ModelRepository, load_runtime
from handlers.settings import Settings
from handlers.speech.classifier_runtime import AudioClassifierRuntime
from tests.handlers.conftest import LiveServer
from tests.speechmodels import AUDIO_LABELS, chirp, encode, save_audio_classifier, save_hubert, save_wavlm, speech

CTC_MODELS = {"tiny-hubert": save_hubert, "tiny-wavlm": save_wavlm}
CLASSIFIER = "tiny-audio-classifier"
#: Scores over HTTP against the pipeline's: the bundle's element-wise tolerance (atol 1e-4; JSON keeps float32).
ATOL = 1e-4


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("more-speech")
    made = {name: save(root / name) for name, save in CTC_MODELS.items()}
    made[CLASSIFIER] = save_audio_classifier(root / CLASSIFIER, "wav2vec2")
    return made


@pytest.fixture(scope="module")
def live(folders: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from model_packager.api import package

    out = tmp_path_factory.mktemp("more-speech-bundles")
    settings = Settings.load(environ={}, access_log=False, metrics="none")
    runtimes = [
        load_runtime(package(folder, name=name, version="1.0.0", out=out).directory, settings)
        for name, folder in folders.items()
    ]
    assert isinstance(runtimes[-1], AudioClassifierRuntime)  # handlers.engine.RUNTIME_LOADERS found it by task
    with LiveServer(create_app(ModelRepository(runtimes), settings)) as server:
        yield server


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {
        "a.flac": encode(speech(3.5, 16000, seed=5), 16000, "FLAC"),
        "b.wav": encode(chirp(2.0, 44100), 44100, "WAV"),
        "c.mp3": encode(speech(2.5, 22050, seed=9), 22050, "MP3"),
    }


def _pipeline(task: str, folder: Path) -> Any:
    from transformers import pipeline

    return pipeline(task, model=str(folder), device="cpu")  # type: ignore[call-overload]


def _heard(data: bytes) -> dict[str, Any]:
    """The file as the server hears it (decoded, mono, 16 kHz): the pipelines' input."""
    return {"raw": decode_audio(data, 16000).samples, "sampling_rate": 16000}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("model", sorted(CTC_MODELS))
def test_hubert_and_wavlm_transcribe_as_transformers_over_the_openai_client(
    live: LiveServer, folders: dict[str, Path], files: dict[str, bytes], model: str
) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{live.url}/v1", api_key="unused", max_retries=0, timeout=60)
    reference = _pipeline("automatic-speech-recognition", folders[model])
    for name, data in files.items():
        expected = reference(_heard(data))["text"]
        answer = client.audio.transcriptions.create(model=model, file=(name, data))
        assert answer.text == expected, name
    verbose = client.audio.transcriptions.create(model=model, file=("a.flac", files["a.flac"]),
                                                 response_format="verbose_json")  # fmt: skip
    assert verbose.duration == pytest.approx(3.5, abs=0.01) and verbose.segments


@pytest.fixture(scope="module")
def pipeline_scores(folders: dict[str, Path], files: dict[str, bytes]) -> dict[str, list[dict[str, Any]]]:
    """transformers' audio-classification pipeline on each file: every label, best first."""
    reference = _pipeline("audio-classification", folders[CLASSIFIER])
    return {name: reference(_heard(data), top_k=None) for name, data in files.items()}


def _same(answer: list[dict[str, Any]], expected: list[dict[str, Any]], top_k: int | None = None) -> None:
    expected = expected[: top_k or len(expected)]
    assert [item["label"] for item in answer] == [item["label"] for item in expected]
    np.testing.assert_allclose([item["score"] for item in answer], [item["score"] for item in expected], atol=ATOL)


def test_classifier_labels_and_scores_on_sagemaker(live: LiveServer, files, pipeline_scores) -> None:
    headers = {"x-maaskit-model": CLASSIFIER}
    for name, data in files.items():
        answer = httpx.post(f"{live.url}/invocations", content=data, headers=headers | {"content-type": "audio/flac"})
        assert answer.status_code == 200, answer.text
        got = answer.json()
        assert sorted(item["label"] for item in got) == sorted(AUDIO_LABELS)  # top_k 5 > 3 labels: all of them
        _same(got, pipeline_scores[name])
    body = {"inputs": _b64(files["a.flac"]), "parameters": {"top_k": 2}}
    answer = httpx.post(f"{live.url}/invocations", json=body, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    _same(answer.json(), pipeline_scores["a.flac"], top_k=2)


def test_classifier_on_maaskit_json_and_torchserve(live: LiveServer, files, pipeline_scores) -> None:
    rows = {"rows": [{"b64": _b64(data)} for data in files.values()], "parameters": {"top_k": None}}
    answer = httpx.post(f"{live.url}/models/{CLASSIFIER}/predict", json=rows, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["task"] == "audio-classification"
    for got, name in zip(answer.json()["predictions"], files, strict=True):
        _same(got, pipeline_scores[name])
    one = httpx.post(
        f"{live.url}/models/{CLASSIFIER}/predict", json={"inputs": {"audio": {"b64": _b64(files["b.wav"])}}}
    )
    assert one.status_code == 200, one.text
    _same(one.json()["predictions"], pipeline_scores["b.wav"])
    torchserve = httpx.post(f"{live.url}/predictions/{CLASSIFIER}", content=files["c.mp3"], timeout=60)
    assert torchserve.status_code == 200, torchserve.text
    _same(torchserve.json(), pipeline_scores["c.mp3"])


def test_classifier_on_oip_bytes_and_waveform_tensors(live: LiveServer, files, pipeline_scores) -> None:
    triton = pytest.importorskip("tritonclient.http")
    client = triton.InferenceServerClient(live.url.removeprefix("http://"))
    audio = triton.InferInput("audio", [3], "BYTES")
    audio.set_data_from_numpy(np.asarray(list(files.values()), dtype=np.object_), binary_data=True)
    result = client.infer(CLASSIFIER, [audio], outputs=[triton.InferRequestedOutput("scores", binary_data=True)])
    scores = result.as_numpy("scores")
    for row, name in zip(scores, files, strict=True):
        expected = {item["label"]: item["score"] for item in pipeline_scores[name]}
        np.testing.assert_allclose(row, [expected[label] for label in AUDIO_LABELS], atol=ATOL)
    # the waveform by name (what the pre-traffic hook sends): one batch, the classification extension names labels
    wave = decode_audio(files["a.flac"], 16000).samples
    values = ((wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)).astype(np.float32)[None, :]
    tensor = triton.InferInput("input_values", list(values.shape), "FP32")
    tensor.set_data_from_numpy(values, binary_data=True)
    ranked = client.infer(CLASSIFIER, [tensor], outputs=[triton.InferRequestedOutput("scores", class_count=1)])
    best = pipeline_scores["a.flac"][0]
    score, index, label = ranked.as_numpy("scores").reshape(-1)[0].decode().split(":")
    assert label == best["label"] and int(index) == AUDIO_LABELS.index(label)
    assert float(score) == pytest.approx(best["score"], abs=ATOL)


def test_a_bad_file_is_a_400_on_each_protocol(live: LiveServer, files) -> None:
    garbage = b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 8
    sagemaker = httpx.post(f"{live.url}/invocations", content=garbage,
                           headers={"content-type": "audio/wav", "x-maaskit-model": CLASSIFIER})  # fmt: skip
    assert sagemaker.status_code == 400 and "cannot be read" in sagemaker.json()["error"]
    maaskit = httpx.post(f"{live.url}/models/{CLASSIFIER}/predict", json={"inputs": {"audio": {"b64": _b64(garbage)}}})
    assert maaskit.status_code == 400 and "cannot be read" in maaskit.json()["error"]["message"]
    torchserve = httpx.post(f"{live.url}/predictions/{CLASSIFIER}", content=b"", headers={"content-type": "audio/wav"})
    assert torchserve.status_code == 400 and "empty" in torchserve.json()["message"]
    body = {"inputs": [{"name": "audio", "datatype": "BYTES", "shape": [1], "data": [_b64(garbage)]}]}
    oip = httpx.post(f"{live.url}/v2/models/{CLASSIFIER}/infer", json=body)
    assert oip.status_code == 400 and "cannot be read" in oip.json()["error"]
    top_k = httpx.post(f"{live.url}/invocations", json={"inputs": _b64(files["a.flac"]), "parameters": {"top_k": 0}},
                       headers={"x-maaskit-model": CLASSIFIER})  # fmt: skip
    assert top_k.status_code == 400 and "top_k" in top_k.json()["error"]
    openai = httpx.post(f"{live.url}/v1/audio/transcriptions", data={"model": CLASSIFIER},
                        files={"file": ("a.flac", files["a.flac"], "audio/flac")})  # fmt: skip
    assert 400 <= openai.status_code < 500
