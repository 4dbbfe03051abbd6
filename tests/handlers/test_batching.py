"""MicroBatcher against real onnxruntime sessions: batched results equal unbatched ones."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from bundle.manifest import TensorSpec
from handlers.batching import BatchConfig, BatcherClosedError, MicroBatcher

RNG = np.random.default_rng(7)


def _session(graph: onnx.GraphProto) -> ort.InferenceSession:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def mlp_session() -> ort.InferenceSession:
    """X[N,4] -> Relu(X W1 + b1) W2 -> scores[N,3], label[N] (argmax)."""
    w1 = numpy_helper.from_array(RNG.normal(size=(4, 8)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(RNG.normal(size=(8,)).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(RNG.normal(size=(8, 3)).astype(np.float32), "w2")
    nodes = [
        helper.make_node("MatMul", ["X", "w1"], ["h"]),
        helper.make_node("Add", ["h", "b1"], ["hb"]),
        helper.make_node("Relu", ["hb"], ["r"]),
        helper.make_node("MatMul", ["r", "w2"], ["scores"]),
        helper.make_node("ArgMax", ["scores"], ["label"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4])],
        [
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
        ],
        initializer=[w1, b1, w2],
    )
    return _session(graph)


def gather_session() -> ort.InferenceSession:
    """idx[N] -> table[idx]; an index outside 0..9 makes onnxruntime raise."""
    table = numpy_helper.from_array(np.arange(10, dtype=np.float32) * 1.5, "table")
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "idx"], ["value"])],
        "gather",
        [helper.make_tensor_value_info("idx", TensorProto.INT64, ["N"])],
        [helper.make_tensor_value_info("value", TensorProto.FLOAT, ["N"])],
        initializer=[table],
    )
    return _session(graph)


def unary_session(shape: list[Any], op: str = "Relu", **attrs: Any) -> ort.InferenceSession:
    """X -> op(X) with the given declared input shape."""
    out_shape: list[Any] = [] if op.startswith("Reduce") else shape
    graph = helper.make_graph(
        [helper.make_node(op, ["X"], ["Y"], **attrs)],
        op.lower(),
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, out_shape)],
    )
    return _session(graph)


def specs(session: ort.InferenceSession) -> list[TensorSpec]:
    """Manifest-style input specs: symbolic dims become None."""
    return [
        TensorSpec(name=i.name, dtype="float32", shape=[d if isinstance(d, int) else None for d in i.shape])
        for i in session.get_inputs()
    ]


class Recorder:
    """Wraps session.run, recording the rows of every call the batcher makes."""

    def __init__(self, session: ort.InferenceSession, gate: threading.Event | None = None) -> None:
        self.session = session
        self.names = [o.name for o in session.get_outputs()]
        self.calls: list[int] = []
        self.gate = gate
        self.started = threading.Event()

    def __call__(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(10), "test gate never opened"
        first = next(iter(feed.values()))
        self.calls.append(int(first.shape[0]) if first.ndim else 0)
        return dict(zip(self.names, self.session.run(None, feed), strict=True))

    def alone(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.names, self.session.run(None, feed), strict=True))


def run_async(factory: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(factory(), 20))


def submit_all(
    run: Callable[[dict[str, np.ndarray]], Any],
    inputs: list[TensorSpec],
    config: BatchConfig,
    feeds: list[dict[str, np.ndarray]],
    rounds: int = 1,
) -> list[list[Any]]:
    """Submit every feed at once (``rounds`` times in a row) through one batcher; results per round."""

    async def scenario() -> list[list[Any]]:
        batcher = MicroBatcher(run, inputs, config)
        try:
            return [
                list(await asyncio.gather(*(batcher.submit(feed) for feed in feeds), return_exceptions=True))
                for _ in range(rounds)
            ]
        finally:
            await batcher.close()

    results: list[list[Any]] = run_async(scenario)
    return results


def test_concurrent_requests_share_one_run_and_match_unbatched_results() -> None:
    recorder = Recorder(mlp_session())
    feeds = [{"X": RNG.normal(size=(int(RNG.integers(1, 4)), 4)).astype(np.float32)} for _ in range(12)]

    (results,) = submit_all(recorder, specs(recorder.session), BatchConfig(max_batch_size=64, max_wait_ms=50), feeds)
    assert recorder.calls == [sum(f["X"].shape[0] for f in feeds)], "all 12 requests should share one run"
    for feed, result in zip(feeds, results, strict=True):
        expected = recorder.alone(feed)
        np.testing.assert_allclose(result["scores"], expected["scores"], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(result["label"], expected["label"])


def test_batches_never_exceed_max_batch_size_rows() -> None:
    recorder = Recorder(mlp_session())
    feeds = [{"X": RNG.normal(size=(rows, 4)).astype(np.float32)} for rows in [1, 2, 3, 1, 2, 3, 1, 2, 3, 4, 1, 1]]

    (results,) = submit_all(recorder, specs(recorder.session), BatchConfig(max_batch_size=5, max_wait_ms=20), feeds)
    assert max(recorder.calls) <= 5
    assert sum(recorder.calls) == sum(f["X"].shape[0] for f in feeds)
    assert len(recorder.calls) < len(feeds)
    for feed, result in zip(feeds, results, strict=True):
        np.testing.assert_allclose(result["scores"], recorder.alone(feed)["scores"], rtol=1e-5, atol=1e-6)


def test_request_larger_than_max_batch_size_runs_alone_unsplit() -> None:
    recorder = Recorder(mlp_session())
    big = {"X": RNG.normal(size=(9, 4)).astype(np.float32)}

    ((result,),) = submit_all(recorder, specs(recorder.session), BatchConfig(max_batch_size=4, max_wait_ms=0), [big])
    assert recorder.calls == [9]
    np.testing.assert_array_equal(result["label"], recorder.alone(big)["label"])


def test_under_concurrent_traffic_a_late_request_joins_the_open_batch_within_max_wait() -> None:
    recorder = Recorder(mlp_session())
    feeds = [{"X": RNG.normal(size=(1, 4)).astype(np.float32)} for _ in range(2)]

    async def scenario() -> None:
        batcher = MicroBatcher(recorder, specs(recorder.session), BatchConfig(max_batch_size=32, max_wait_ms=400))
        try:
            await asyncio.gather(*(batcher.submit(feed) for feed in feeds))  # overlapping traffic seen
            first = asyncio.ensure_future(batcher.submit(feeds[0]))
            await asyncio.sleep(0.02)
            second = asyncio.ensure_future(batcher.submit(feeds[1]))
            await asyncio.gather(first, second)
            assert recorder.calls == [2, 2], "a request arriving within max_wait_ms joins the open batch"
            # Alone, a request still completes (after the wait), it never waits for company forever.
            await asyncio.wait_for(batcher.submit(feeds[0]), 5)
            assert recorder.calls == [2, 2, 1]
        finally:
            await batcher.close()

    run_async(scenario)


def test_sequential_requests_are_not_delayed_by_max_wait() -> None:
    recorder = Recorder(mlp_session())
    feed = {"X": RNG.normal(size=(1, 4)).astype(np.float32)}

    async def scenario() -> None:
        batcher = MicroBatcher(recorder, specs(recorder.session), BatchConfig(max_batch_size=32, max_wait_ms=1000))
        try:
            # One request at a time (no concurrency): each is run at once, not after the 1 s wait.
            for _ in range(3):
                await asyncio.wait_for(batcher.submit(feed), 0.5)
            assert recorder.calls == [1, 1, 1]
        finally:
            await batcher.close()

    run_async(scenario)


def test_incompatible_trailing_shapes_are_not_concatenated() -> None:
    recorder = Recorder(unary_session(["N", "F"]))
    feeds = [
        {"X": RNG.normal(size=(2, 3)).astype(np.float32)},
        {"X": RNG.normal(size=(1, 5)).astype(np.float32)},
        {"X": RNG.normal(size=(3, 3)).astype(np.float32)},
    ]

    (results,) = submit_all(recorder, specs(recorder.session), BatchConfig(max_batch_size=32, max_wait_ms=20), feeds)
    assert sorted(recorder.calls) == [1, 5], "the two (.,3) feeds share a run, the (.,5) one runs alone"
    for feed, result in zip(feeds, results, strict=True):
        np.testing.assert_array_equal(result["Y"], np.maximum(feed["X"], 0))


def test_fixed_batch_axis_runs_every_request_alone() -> None:
    recorder = Recorder(unary_session([1, 4]))
    feeds = [{"X": RNG.normal(size=(1, 4)).astype(np.float32)} for _ in range(4)]

    (results,) = submit_all(recorder, specs(recorder.session), BatchConfig(max_batch_size=32, max_wait_ms=20), feeds)
    assert recorder.calls == [1, 1, 1, 1]
    for feed, result in zip(feeds, results, strict=True):
        np.testing.assert_array_equal(result["Y"], np.maximum(feed["X"], 0))


def test_outputs_without_batch_axis_fall_back_to_one_run_per_request() -> None:
    recorder = Recorder(unary_session(["N", 4], op="ReduceSum", keepdims=0))
    feeds = [{"X": RNG.normal(size=(rows, 4)).astype(np.float32)} for rows in (1, 2, 3)]

    first, second = submit_all(
        recorder, specs(recorder.session), BatchConfig(max_batch_size=32, max_wait_ms=20), feeds, rounds=2
    )
    for results in (first, second):
        for feed, result in zip(feeds, results, strict=True):
            np.testing.assert_allclose(result["Y"], feed["X"].sum(), rtol=1e-5)
    # One failed attempt at batching, then never again.
    assert recorder.calls == [6, 1, 2, 3, 1, 2, 3]


def test_a_failing_request_gets_its_own_error_and_does_not_poison_the_batch() -> None:
    recorder = Recorder(gather_session())
    feeds = [{"idx": np.array([i, i + 1], dtype=np.int64)} for i in range(4)]
    feeds.insert(2, {"idx": np.array([99], dtype=np.int64)})

    (results,) = submit_all(recorder, [TensorSpec(name="idx", dtype="int64", shape=[None])], BatchConfig(), feeds)
    assert isinstance(results[2], Exception) and "out of" in str(results[2]).lower()
    for index, (feed, result) in enumerate(zip(feeds, results, strict=True)):
        if index != 2:
            np.testing.assert_array_equal(result["value"], feed["idx"].astype(np.float32) * 1.5)


def test_a_systemic_failure_reaches_every_caller_of_the_batch() -> None:
    calls: list[int] = []

    def broken(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        calls.append(feed["X"].shape[0])
        raise RuntimeError("CUDA out of memory (simulated device failure)")

    spec = [TensorSpec(name="X", dtype="float32", shape=[None, 4])]
    feeds = [{"X": np.zeros((1, 4), np.float32)} for _ in range(3)]

    (results,) = submit_all(broken, spec, BatchConfig(max_wait_ms=20), feeds)
    assert all(isinstance(r, RuntimeError) and "out of memory" in str(r) for r in results)
    assert calls == [3, 1, 1, 1]


def test_cancelled_callers_are_dropped_and_the_batcher_keeps_serving() -> None:
    gate = threading.Event()
    recorder = Recorder(mlp_session(), gate=gate)
    feeds = [{"X": np.full((1, 4), i, np.float32)} for i in range(4)]

    async def scenario() -> None:
        batcher = MicroBatcher(recorder, specs(recorder.session), BatchConfig(max_batch_size=32, max_wait_ms=0))
        try:
            running = asyncio.ensure_future(batcher.submit(feeds[0]))
            assert await asyncio.to_thread(recorder.started.wait, 5)
            # The worker is busy with feeds[0]: the next three queue up; cancel one before it is run,
            # and cancel the running caller mid-run.
            queued = [asyncio.ensure_future(batcher.submit(feed)) for feed in feeds[1:]]
            await asyncio.sleep(0.01)
            queued[1].cancel()
            running.cancel()
            # The event loop stays responsive while the worker thread is blocked in run().
            await asyncio.sleep(0.01)
            gate.set()
            done: list[Any] = await asyncio.gather(*queued, return_exceptions=True)
            assert isinstance(done[1], asyncio.CancelledError)
            for feed, result in ((feeds[1], done[0]), (feeds[3], done[2])):
                np.testing.assert_array_equal(result["label"], recorder.alone(feed)["label"])
            assert recorder.calls == [1, 2], "the cancelled request's row was not run"
            after = await batcher.submit(feeds[2])
            np.testing.assert_array_equal(after["label"], recorder.alone(feeds[2])["label"])
        finally:
            gate.set()
            await batcher.close()

    run_async(scenario)


def test_close_fails_queued_requests_and_refuses_new_ones() -> None:
    gate = threading.Event()
    recorder = Recorder(mlp_session(), gate=gate)
    feed = {"X": np.ones((1, 4), np.float32)}

    async def scenario() -> None:
        batcher = MicroBatcher(recorder, specs(recorder.session), BatchConfig(max_wait_ms=0))
        running = asyncio.ensure_future(batcher.submit(feed))
        assert await asyncio.to_thread(recorder.started.wait, 5)
        queued = asyncio.ensure_future(batcher.submit(feed))
        await asyncio.sleep(0)
        closing = asyncio.ensure_future(batcher.close())
        await asyncio.sleep(0.01)
        gate.set()
        await closing
        for task in (running, queued):
            with pytest.raises(BatcherClosedError):
                await task
        with pytest.raises(BatcherClosedError, match="shutting down"):
            await batcher.submit(feed)

    run_async(scenario)


def test_config_comes_from_the_one_settings_object() -> None:
    from handlers.settings import Settings, SettingsError

    env = {"MAASKIT_BATCHING": "1", "MAASKIT_BATCH_MAX_SIZE": "64", "MAASKIT_BATCH_MAX_WAIT_MS": "0.5"}
    expected = BatchConfig(enabled=True, max_batch_size=64, max_wait_ms=0.5)
    assert BatchConfig.from_settings(Settings.load(env)) == expected
    assert BatchConfig.from_settings(Settings.load({})).enabled is False  # on only where an entry turns it on
    for name, value, fragment in [
        ("MAASKIT_BATCH_MAX_SIZE", "lots", "whole number"),
        ("MAASKIT_BATCH_MAX_SIZE", "2.5", "whole number"),
        ("MAASKIT_BATCH_MAX_SIZE", "0", "at least 1"),
        ("MAASKIT_BATCHING", "maybe", "true or false"),
        ("MAASKIT_BATCH_MAX_WAIT_MS", "5000", "between 0 and 1000"),
    ]:
        with pytest.raises(SettingsError, match=fragment) as info:
            Settings.load({name: value})
        assert str(info.value).startswith(f"{name}={value!r}")
