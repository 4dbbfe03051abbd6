"""``python -m handlers.lambda_stream`` as Lambda runs it: a fresh process under a local Runtime API.

The process initialises as the buffered path does (bundles from ``MAASKIT_BUNDLES``, verified and
warmed), answers maaskit routes through the streamed HTTP integration shape, and reports a bundle
that cannot be loaded to ``/runtime/init/error`` before exiting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bundle import open_bundle
from tests.handlers.events import load_event
from tests.handlers.lambda_stream.runtime_api_server import RuntimeApi

REPO = Path(__file__).resolve().parents[3]


def _start(api: RuntimeApi, bundles: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "MAASKIT_BUNDLES": bundles,
        "MAASKIT_INTRA_OP_THREADS": "1",
        "AWS_LAMBDA_FUNCTION_NAME": "maaskit-test-iris",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "handlers.lambda_stream"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def runtime_api() -> Iterator[RuntimeApi]:
    api = RuntimeApi().start()
    yield api
    api.stop()


def test_a_maaskit_route_answers_through_the_streaming_loop(runtime_api, bundles):
    process = _start(runtime_api, str(bundles.iris))
    try:
        record = runtime_api.invoke(load_event("apigw_v1_predict"))
        for _ in range(600):  # at most 60 s; stop early if the process died
            if record.done.wait(0.1) or process.poll() is not None:
                break
    finally:
        process.kill()  # the loop runs until Lambda freezes it: stop the one process this test started
        output = process.communicate(timeout=30)[0].decode()
    assert record.done.is_set(), f"no answer; the loop's output: {output[-2000:]}"
    assert not record.problems, record.problems
    prelude, body = record.http()
    assert prelude["statusCode"] == 200, output[-2000:]
    answer = json.loads(body)
    # The same answer the buffered Mangum path gives for the event (labels mapped to their names).
    samples = open_bundle(bundles.iris).samples()
    labels = open_bundle(bundles.iris).manifest.labels or []
    rows = np.asarray(json.loads(load_event("apigw_v1_predict")["body"])["rows"], dtype=np.float32)
    index = [int(np.flatnonzero(np.isclose(samples.inputs["X"], row, atol=1e-6).all(axis=1))[0]) for row in rows]
    stored = samples.outputs["label"][index].tolist()
    expected = [labels[value] if isinstance(value, int) and labels else value for value in stored]
    assert [str(label) for label in answer["outputs"]["label"]] == [str(value) for value in expected]


def test_a_bundle_that_cannot_load_is_an_init_error(runtime_api, tmp_path):
    process = _start(runtime_api, str(tmp_path / "missing-bundle"))
    try:
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
    assert code == 1
    assert runtime_api.init_error_seen.wait(5)
    headers, document = runtime_api.init_errors[0]
    assert headers["lambda-runtime-function-error-type"].startswith("Runtime.")
    assert "missing-bundle" in document["errorMessage"]
