"""A 1x3x224x224 float32 input sent as JSON vs ``.npy`` vs OIP binary, end to end over HTTP to ``maaskit serve``.

End to end = client encoding + transfer + server decoding, validation and inference + the answer read back
and decoded, on one keep-alive connection. The JSON client is given every advantage (orjson with numpy
serialization). The model is cheap (pool + linear) so the wire format is what is measured. Goal: binary
10x faster than JSON.

    python -m bench.binary_vs_json [--duration 3]
"""

from __future__ import annotations

import argparse
import http.client
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

from bench.common import OUT, PYTHON, free_port, start_server, table, time_calls
from bench.models import image_bundle

SHAPE = (1, 3, 224, 224)


def _client(port: int) -> Callable[[str, bytes, dict[str, str]], tuple[int, bytes, dict[str, str]]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}

    return post


def _variants(
    post: Callable[[str, bytes, dict[str, str]], tuple[int, bytes, dict[str, str]]], image: np.ndarray
) -> dict[str, tuple[Callable[[], np.ndarray], int]]:
    """name -> (one end-to-end call returning the scores, request body bytes)."""

    def maaskit_json() -> np.ndarray:
        body = orjson.dumps({"inputs": {"image": image}}, option=orjson.OPT_SERIALIZE_NUMPY)
        status, raw, _ = post("/models/image/predict", body, {"content-type": "application/json"})
        assert status == 200, raw[:300]
        return np.asarray(orjson.loads(raw)["outputs"]["scores"], dtype=np.float32)

    def oip_json() -> np.ndarray:
        tensor = {"name": "image", "shape": list(SHAPE), "datatype": "FP32", "data": image.ravel()}
        body = orjson.dumps({"inputs": [tensor]}, option=orjson.OPT_SERIALIZE_NUMPY)
        status, raw, _ = post("/v2/models/image/infer", body, {"content-type": "application/json"})
        assert status == 200, raw[:300]
        output = orjson.loads(raw)["outputs"][0]
        return np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])

    def npy() -> np.ndarray:
        buffer = io.BytesIO()
        np.save(buffer, image, allow_pickle=False)
        headers = {"content-type": "application/x-npy", "accept": "application/x-npy"}
        status, raw, _ = post("/invocations", buffer.getvalue(), headers)
        assert status == 200, raw[:300]
        answer: np.ndarray = np.load(io.BytesIO(raw), allow_pickle=False)
        return answer

    def oip_binary() -> np.ndarray:
        raw_input = image.tobytes()
        header = orjson.dumps(
            {
                "inputs": [
                    {
                        "name": "image",
                        "shape": list(SHAPE),
                        "datatype": "FP32",
                        "parameters": {"binary_data_size": len(raw_input)},
                    }
                ],
                "outputs": [{"name": "scores", "parameters": {"binary_data": True}}],
            }
        )
        headers = {"content-type": "application/octet-stream", "inference-header-content-length": str(len(header))}
        status, raw, answer_headers = post("/v2/models/image/infer", header + raw_input, headers)
        assert status == 200, raw[:300]
        split = int(answer_headers["inference-header-content-length"])
        output = orjson.loads(raw[:split])["outputs"][0]
        return np.frombuffer(raw[split:], dtype=np.float32).reshape(output["shape"])

    sizes = {
        "maaskit JSON": len(orjson.dumps({"inputs": {"image": image}}, option=orjson.OPT_SERIALIZE_NUMPY)),
        "OIP JSON": len(orjson.dumps({"data": image.ravel()}, option=orjson.OPT_SERIALIZE_NUMPY)),
        "SageMaker .npy": image.nbytes + 128,
        "OIP binary": image.nbytes + 200,
    }
    calls = {"maaskit JSON": maaskit_json, "OIP JSON": oip_json, "SageMaker .npy": npy, "OIP binary": oip_binary}
    return {name: (call, sizes[name]) for name, call in calls.items()}


def run(duration: float = 3.0) -> str:
    """Measure and return the Markdown section."""
    bundle = image_bundle(OUT / "bundles")
    image = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
    port = free_port()
    command = [str(Path(PYTHON).with_name("maaskit")), "serve", str(bundle), "--threads", "1", "--port", str(port)]
    with start_server("binary-vs-json", command, port, {"MAASKIT_MAX_BODY_BYTES": str(16 * 1024 * 1024)}):
        variants = _variants(_client(port), image)
        reference = None
        results = {}
        for name, (call, _) in variants.items():
            scores = call()
            reference = scores if reference is None else reference
            np.testing.assert_allclose(scores, reference, rtol=1e-5, err_msg=f"{name} answered differently")
            results[name] = time_calls(call, duration, max_calls=5000, warmup=3)
    slowest_json = results["maaskit JSON"].p50_ms
    lines = [
        [
            name,
            f"{variants[name][1] / 1e6:.2f}",
            results[name].p50_ms,
            results[name].p99_ms,
            slowest_json / results[name].p50_ms,
            results[name].count,
        ]
        for name in variants
    ]
    return (
        "## 1x3x224x224 float32 input: JSON vs binary, end to end over HTTP\n\n"
        "Goal: binary >= 10x faster than JSON (p50).\n\n"
        + table(["encoding", "body MB", "p50 ms", "p99 ms", "x faster than maaskit JSON", "requests"], lines)
        + "\n"
    )


def main(argv: list[str] | None = None) -> str:
    """Command line entry; prints and returns the Markdown section."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per encoding (default 3)")
    report = run(parser.parse_args(argv).duration)
    print(report)
    return report


if __name__ == "__main__":
    main()
