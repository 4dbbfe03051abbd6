"""The baseline the serving benchmark compares against: a minimal FastAPI + onnxruntime route, written for it.

No validation, no metrics, no logging: the least a hand-rolled service does. JSON via orjson on the raw body
(faster than a pydantic request model), so the baseline is a strict one. The model path comes from
``BENCH_MODEL``; run with ``uvicorn bench.minimal_app:app --no-access-log``.
"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

_options = ort.SessionOptions()
_options.intra_op_num_threads = int(os.environ.get("BENCH_THREADS", "1"))
session = ort.InferenceSession(os.environ["BENCH_MODEL"], _options, providers=["CPUExecutionProvider"])
_outputs = [output.name for output in session.get_outputs()]
app = FastAPI()


@app.get("/ping")
async def ping() -> Response:
    """Ready once the module is imported (the session exists)."""
    return Response(b'{"status":"Healthy"}', media_type="application/json")


@app.post("/predict")
async def predict(request: Request) -> Response:
    """``{"inputs": {"X": rows}}`` in, every output as nested lists out."""
    payload = orjson.loads(await request.body())
    feed = {name: np.asarray(value, dtype=np.float32) for name, value in payload["inputs"].items()}
    results = session.run(_outputs, feed)
    answer = {name: value.tolist() for name, value in zip(_outputs, results, strict=True)}
    return Response(orjson.dumps(answer), media_type="application/json")
