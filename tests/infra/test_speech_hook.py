"""The pre-traffic hook on a speech bundle: the sample files go to the new version, transcripts judged remotely.

The "new version" is the real Lambda handler (Mangum over the maaskit app) run in-process behind a
boto3-shaped client, so the hook's events travel the deployed route and the OIP binary ``BYTES`` path.
"""

from __future__ import annotations

import importlib
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.hook import pre_traffic
from infra.samples import stage_hook_asset
from tests.handlers.events import LambdaContext
from tests.speechmodels import save_wav2vec2


class _LocalLambda:
    """``lambda.invoke`` answered by the maaskit Lambda handler serving ``bundle``; counts the calls."""

    def __init__(self, bundle: Path) -> None:
        with pytest.MonkeyPatch.context() as patch:  # the entry module builds its handler when imported
            patch.setenv("MAASKIT_BUNDLES", str(bundle))
            patch.setenv("MAASKIT_INTRA_OP_THREADS", "1")
            patch.delenv("MAASKIT_METRICS", raising=False)
            sys.modules.pop("handlers.lambda_entry", None)
            self.handler = importlib.import_module("handlers.lambda_entry").handler
            sys.modules.pop("handlers.lambda_entry", None)
        self.calls = 0

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        answer = self.handler(json.loads(kwargs["Payload"]), LambdaContext())
        return {"Payload": io.BytesIO(json.dumps(answer).encode())}


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Version 1.0.0 and a 1.1.0 with other weights, of the same tiny CTC model name."""
    from model_packager import package

    root = tmp_path_factory.mktemp("speech-hook")
    good = package(save_wav2vec2(root / "a", seed=0), name="asr", version="1.0.0", out=root / "b").directory
    other = package(save_wav2vec2(root / "c", seed=7), name="asr", version="1.1.0", out=root / "b").directory
    return {"good": good, "other": other}


@pytest.fixture(scope="module")
def staged(versions: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("hook")
    stage_hook_asset(out, versions["good"])
    yield out


def test_the_hook_passes_the_version_it_was_staged_with(versions: dict[str, Path], staged: Path) -> None:
    manifest, samples = pre_traffic.load_cases(staged)
    client = _LocalLambda(versions["good"])
    assert pre_traffic._check(client, "asr:2", manifest, samples, staged) == []
    assert client.calls == samples.count  # one event per sample file, each answered by the new version


def test_the_hook_fails_a_version_whose_weights_differ(versions: dict[str, Path], staged: Path) -> None:
    manifest, samples = pre_traffic.load_cases(staged)
    problems = pre_traffic._check(_LocalLambda(versions["other"]), "asr:3", manifest, samples, staged)
    assert problems and any("transcribed" in problem or "word error" in problem for problem in problems), problems


def test_a_refusing_version_fails_with_its_status(versions: dict[str, Path], staged: Path) -> None:
    manifest, samples = pre_traffic.load_cases(staged)

    class Refusing:
        def invoke(self, **kwargs: Any) -> dict[str, Any]:
            payload = {"statusCode": 415, "body": '{"error": "unsupported audio"}'}
            return {"Payload": io.BytesIO(json.dumps(payload).encode())}

    (problem,) = pre_traffic._check(Refusing(), "asr:4", manifest, samples, staged)
    assert problem.startswith("the new version answered HTTP 415")
