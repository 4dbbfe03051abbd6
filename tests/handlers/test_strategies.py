"""Inference strategies compose: the inference budget holds through the SageMaker batcher, in every protocol's shape."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time

import numpy as np
import orjson
import pytest

from bundle import TensorSpec
from handlers.batching import BatchConfig, MicroBatcher
from handlers.sagemaker_entry import build_app, container_settings
from handlers.settings import Settings
from handlers.strategies import Adaptive, Batched, Budgeted, Inline, Threaded, choose_strategy
from tests.handlers.conftest import asgi_post
from tests.reliability.test_timeouts import WIDTH, _slow_bundle

BUDGET_MS = 50


def test_choose_strategy_composes_batching_and_the_budget() -> None:
    batch = BatchConfig(max_batch_size=8, max_wait_ms=1)
    budget = Settings.load(environ={}, inference_timeout_ms=BUDGET_MS)
    plain = Settings.load(environ={})

    batched = choose_strategy(budget, batch)
    assert isinstance(batched, Budgeted) and isinstance(batched.inner, Batched)
    assert batched.describe() == "batched up to 8 rows / 1 ms, within a 50 ms budget"
    threaded = choose_strategy(budget)
    assert isinstance(threaded, Budgeted) and isinstance(threaded.inner, Threaded)
    assert isinstance(choose_strategy(plain, batch), Batched)
    assert isinstance(choose_strategy(plain), Adaptive)
    assert isinstance(choose_strategy(plain, BatchConfig(enabled=False)), Adaptive)
    with pytest.raises(ValueError, match="interrupt"):
        Budgeted(Inline(), BUDGET_MS)  # an inline run blocks the event loop: no budget can hold


class _Options:
    terminate = False


def test_a_batch_whose_callers_all_gave_up_is_stopped() -> None:
    """The batcher hands its run fresh options per batch and sets ``terminate`` once no caller waits."""
    started = threading.Event()
    seen: list[_Options] = []

    def run(feed: dict[str, np.ndarray], options: _Options) -> dict[str, np.ndarray]:
        seen.append(options)
        started.set()
        deadline = time.monotonic() + 10
        while not options.terminate:  # onnxruntime checks the flag between operators
            assert time.monotonic() < deadline, "the abandoned batch was never stopped"
            time.sleep(0.001)
        raise RuntimeError("Exiting due to terminate flag being set to true.")

    async def scenario() -> None:
        spec = TensorSpec(name="X", dtype="float32", shape=[None, 2])
        batcher = MicroBatcher(run, [spec], BatchConfig(max_wait_ms=0), run_options=_Options)
        try:
            call = asyncio.ensure_future(batcher.submit({"X": np.ones((1, 2), np.float32)}))
            await asyncio.to_thread(started.wait, 5)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            assert seen[0].terminate, "the run of a batch nobody waits for is told to stop"
        finally:
            await batcher.close()  # joins the worker: the stopped run has returned
        assert len(seen) == 1 and batcher.stats.solo_retries == 0, "stopped once, not re-run alone"

    asyncio.run(asyncio.wait_for(scenario(), 20))


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def batched_app(tmp_path_factory: pytest.TempPathFactory):
    """The SageMaker entry's app (batching on) over a model whose large requests take seconds."""
    bundle = _slow_bundle(tmp_path_factory.mktemp("slow"))
    env = {
        "SM_MODEL_DIR": str(bundle),
        "MAASKIT_PROVIDERS": "cpu",
        "MAASKIT_INFERENCE_TIMEOUT_MS": str(BUDGET_MS),
        "MAASKIT_MAX_BODY_BYTES": str(10**8),
        "MAASKIT_INTRA_OP_THREADS": "1",
        "MAASKIT_ACCESS_LOG": "false",
        "MAASKIT_METRICS": "none",
    }
    app = build_app(env, container_settings(env, gpu_count=0))
    strategy = app.state.repository.strategy
    assert isinstance(strategy, Budgeted) and isinstance(strategy.inner, Batched)
    return app


HEAVY = np.ones((1000, WIDTH), dtype=np.float32)
_BINARY_HEADER = json.dumps(
    {
        "inputs": [
            {
                "name": "X",
                "shape": list(HEAVY.shape),
                "datatype": "FP32",
                "parameters": {"binary_data_size": HEAVY.nbytes},
            }
        ]
    }
).encode()

# protocol, path, request, error body -> its message
CASES = [
    (
        "maaskit",
        "/models/slow/predict",
        {
            "content": orjson.dumps({"inputs": {"X": HEAVY}}, option=orjson.OPT_SERIALIZE_NUMPY),
            "headers": {"content-type": "application/json"},
        },
        lambda body: body["error"]["message"] if body["error"]["type"] == "InferenceTimeoutError" else None,
    ),
    (
        "oip",
        "/v2/models/slow/infer",
        {
            "content": _BINARY_HEADER + HEAVY.tobytes(),
            "headers": {
                "inference-header-content-length": str(len(_BINARY_HEADER)),
                "content-type": "application/octet-stream",
            },
        },
        lambda body: body["error"],
    ),
    (
        "tfserving",
        "/v1/models/slow:predict",
        {
            "content": orjson.dumps({"instances": HEAVY}, option=orjson.OPT_SERIALIZE_NUMPY),
            "headers": {"content-type": "application/json"},
        },
        lambda body: body["error"],
    ),
    (
        "torchserve",
        "/predictions/slow",
        {"content": _npy(HEAVY), "headers": {"content-type": "application/x-npy"}},
        lambda body: body["message"] if body["code"] == 504 else None,
    ),
    (
        "sagemaker",
        "/invocations",
        {"content": _npy(HEAVY), "headers": {"content-type": "application/x-npy"}},
        lambda body: body["error"],
    ),
]


@pytest.mark.parametrize(("protocol", "path", "request_kwargs", "message_of"), CASES, ids=[case[0] for case in CASES])
def test_budget_holds_through_the_batcher_in_each_protocols_shape(
    batched_app, protocol, path, request_kwargs, message_of
):
    started = time.perf_counter()
    answer = asgi_post(batched_app, path, **request_kwargs)
    waited = time.perf_counter() - started
    assert answer.status_code == 504, answer.text[:300]
    message = message_of(answer.json())
    assert f"{BUDGET_MS} ms budget" in message and "MAASKIT_INFERENCE_TIMEOUT_MS" in message
    assert waited < 5, f"{protocol}: the client waited {waited:.1f} s for a {BUDGET_MS} ms budget"


def test_the_stopped_batch_frees_the_worker_for_the_next_request(batched_app):
    """4,000 rows keep the batcher's one worker busy for ~15 s here unless the run is stopped.

    onnxruntime checks ``terminate`` between operators, so the worker is free once the current
    MatMul (well under a second) is done; requests meanwhile queue and may themselves run over budget.
    """
    huge = _npy(np.ones((4000, WIDTH), dtype=np.float32))
    light = {"json": {"inputs": {"X": np.ones((1, WIDTH)).tolist()}}}
    assert (
        asgi_post(batched_app, "/invocations", content=huge, headers={"content-type": "application/x-npy"}).status_code
        == 504
    )
    stopped = time.perf_counter()
    while True:
        answer = asgi_post(batched_app, "/models/slow/predict", **light)
        freed = time.perf_counter() - stopped
        if answer.status_code == 200 or freed > 6:
            break
        assert answer.status_code == 504, answer.text
    assert answer.status_code == 200, f"the worker was still busy {freed:.1f} s later: the abandoned batch kept running"
    assert np.asarray(answer.json()["outputs"]["Y"]).shape == (1, WIDTH)
