"""The two seams: a new protocol is one module (this one), a new family one processor, neither edits the other.

This module is itself a protocol (``router`` below): ``POST /lines/{name}`` takes one example per
text line and answers ``{"rows": [...]}``; its errors are ``{"problem": ...}``. ``CsvTextProcessor`` is
a family of its own (CSV lines of text in, a label per line out) that every existing codec serves
unchanged.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
from starlette.requests import Request
from starlette.responses import Response

from handlers.app import create_app
from handlers.engine import ModelRepository, ModelRuntime, load_runtime
from handlers.errors import InvalidInputError, ServingError
from handlers.http import json_response
from handlers.protocols import PROTOCOL_MODULES
from handlers.protocols.base import Codec, Decoded, Result, inference_endpoint
from handlers.routing import RouteTable
from handlers.settings import Settings
from handlers.vocabulary import Answers, Feed, Inputs, Outputs, Style
from tests.handlers.conftest import asgi_get, asgi_post

IRIS_ROWS = "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"


def error_shape(error: ServingError) -> dict[str, Any]:
    return {"problem": error.message}


class Lines(Codec[int]):
    """One example per line of a text/plain body."""

    def decode(self, request: Request, runtime: ModelRuntime, body: bytes) -> Decoded[int]:
        lines = [line for line in body.decode().splitlines() if line.strip()]
        return Decoded(Inputs(raw=lines), len(lines))

    def encode(self, result: Result[int]) -> Response:
        assert result.state == len(result.feed["X"])  # the state and the feed reach the encoder
        return json_response({"rows": [list(map(float, row)) for row in result.outputs["probabilities"]]})


def router(repository: ModelRepository, settings: Settings) -> RouteTable:
    api = RouteTable("lines", error_shape, prefixes=("/lines",))
    api.post("/lines/{name}")(inference_endpoint(Lines(), repository, settings))
    return api


class CsvTextProcessor:
    """A family: text lines of numbers -> the float feed; keeps the probabilities; answers a label per line."""

    bodies = frozenset({"text"})
    score_labels: ClassVar[dict[str, list[str]]] = {"probabilities": ["setosa", "versicolor", "virginica"]}
    embedder = None

    def preprocess(self, inputs: Inputs) -> Feed:
        value = inputs.raw if inputs.raw is not None else inputs.named.get("text")
        if value is None:
            raise InvalidInputError("send text lines")
        lines = value.splitlines() if isinstance(value, str) else list(value)
        rows = [[float(field) for field in str(line).split(",")] for line in lines if str(line).strip()]
        return {"X": np.asarray(rows, dtype=np.float32)}

    def postprocess(self, feed: Feed, outputs: Outputs) -> Outputs:
        return {"probabilities": outputs["probabilities"]}

    def answer(self, inputs: Inputs, feed: Feed, outputs: Outputs, style: Style) -> Answers:
        labels = [self.score_labels["probabilities"][int(i)] for i in outputs["probabilities"].argmax(axis=1)]
        return Answers(outputs=outputs, predictions=None if style == "tensors" else labels, task="csv-lines")


@pytest.fixture(scope="module")
def runtimes(bundles, settings):
    tabular = load_runtime(bundles.iris, settings)
    texty = load_runtime(bundles.iris, settings)
    texty.processor = CsvTextProcessor()
    return tabular, texty


def _app(runtime: ModelRuntime, settings: Settings):
    return create_app(ModelRepository([runtime]), settings, protocols=[*PROTOCOL_MODULES, __name__])


def test_a_new_protocol_module_serves_raw_inputs_through_the_models_processor(runtimes, settings):
    tabular, texty = runtimes
    answer = asgi_post(_app(texty, settings), "/lines/iris", content=IRIS_ROWS.encode())
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"rows"}  # postprocess kept the probabilities, encode wrote them
    features = np.asarray([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)
    expected = tabular.run({"X": features})["probabilities"]
    assert np.allclose(answer.json()["rows"], expected, atol=1e-6)
    assert np.argmax(expected, axis=1).tolist() == [0, 2]  # setosa, virginica


def test_raw_inputs_to_a_tabular_model_get_a_400_in_the_new_protocols_shape(runtimes, settings):
    tabular, _ = runtimes
    answer = asgi_post(_app(tabular, settings), "/lines/iris", content=IRIS_ROWS.encode())
    assert answer.status_code == 400
    assert set(answer.json()) == {"problem"}
    assert "takes tensors (X), not raw text" in answer.json()["problem"]


def test_unknown_routes_take_the_shape_of_the_protocol_claiming_the_path(runtimes, settings):
    tabular, _ = runtimes
    app = _app(tabular, settings)
    missing = asgi_post(app, "/lines/nope", content=b"1,2,3,4")
    assert missing.status_code == 404 and "no model named 'nope'" in missing.json()["problem"]
    assert set(asgi_get(app, "/lines/iris").json()) == {"problem"}  # 405 under its prefix
    assert asgi_get(app, "/lines/iris").headers["allow"] == "POST"
    assert set(asgi_get(app, "/lines/iris/extra").json()) == {"problem"}
    assert set(asgi_get(app, "/linesx").json()) == {"error"}  # a whole segment, not a string prefix
    assert set(asgi_get(app, "/linesx").json()["error"]) == {"status", "type", "message"}
    # the existing protocols still answer in their own shapes next to it
    assert asgi_post(app, "/models/iris/predict", json={"rows": [[5.1, 3.5, 1.4, 0.2]]}).status_code == 200


def test_a_new_family_is_served_by_every_existing_codec(runtimes, settings):
    _, texty = runtimes
    app = _app(texty, settings)
    plain = {"content-type": "text/plain"}
    want = ["setosa", "virginica"]
    assert asgi_post(app, "/predictions/iris", content=IRIS_ROWS.encode(), headers=plain).json() == want
    invoked = asgi_post(app, "/invocations", content=IRIS_ROWS.encode(), headers=plain)
    assert invoked.json() == want
    predicted = asgi_post(app, "/models/iris/predict", json={"inputs": {"text": IRIS_ROWS.splitlines()}}).json()
    assert (predicted["task"], predicted["predictions"]) == ("csv-lines", want)
    served = asgi_post(app, "/v1/models/iris:predict", json={"inputs": IRIS_ROWS.splitlines()}).json()
    assert served == {"outputs": want}
    request = {
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": IRIS_ROWS.splitlines()}],
        "outputs": [{"name": "probabilities", "parameters": {"classification": 1}}],
    }
    classified = asgi_post(app, "/v2/models/iris/infer", json=request).json()["outputs"][0]["data"]
    assert [entry.rsplit(":", 1)[-1] for entry in classified] == want
    refused = asgi_post(app, "/predictions/iris", content=b"1,2", headers={"content-type": "text/csv"})
    assert refused.status_code == 415 and "text/plain or application/json" in refused.json()["message"]
