"""Nothing a client sends yields a 500: random JSON and bytes at every POST route, every content type."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.app import create_app

ROUTES = [
    "/models/adder/predict",
    "/models/iris/predict",
    "/v2/models/adder/infer",
    "/v2/models/iris/infer",
    "/v1/models/adder:predict",
    "/v1/models/iris:predict",
    "/predictions/adder",
    "/predictions/iris",
    "/invocations",
]
scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=5)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "inputs",
                    "rows",
                    "instances",
                    "a",
                    "b",
                    "X",
                    "name",
                    "shape",
                    "datatype",
                    "data",
                    "parameters",
                    "outputs",
                ]
            )
            | st.text(max_size=4),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)
content_types = st.sampled_from(
    ["application/json", "text/csv", "application/x-npy", "application/octet-stream", "text/plain", ""]
)


@pytest.fixture(scope="module")
def client(repository, settings):
    return create_app(repository, settings)


def _post(app, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fuzz") as http:
            return await http.post(path, content=body, headers=headers)

    return asyncio.run(go())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(ROUTES),
    payload=json_values,
    media=content_types,
    model=st.sampled_from(["adder", "iris", "nope"]),
)
def test_random_json_never_500(client, route, payload, media, model):
    headers = {"content-type": media, "x-maaskit-model": model}
    response = _post(client, route, orjson.dumps(payload), headers)
    assert response.status_code < 500, response.text


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), body=st.binary(max_size=64), media=content_types, header=st.integers(-5, 80))
def test_random_bytes_never_500(client, route, body, media, header):
    headers = {"content-type": media, "x-maaskit-model": "iris", "inference-header-content-length": str(header)}
    response = _post(client, route, body, headers)
    assert response.status_code < 500, response.text


numbers = st.integers(-3, 2**40) | st.floats(-1e40, 1e40, allow_nan=False) | st.booleans() | st.text(max_size=3)
nested = st.recursive(numbers, lambda children: st.lists(children, min_size=0, max_size=3), max_leaves=12)
oip_inputs = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["X", "a", "b", "z"]),
            "shape": st.lists(st.integers(-1, 4), max_size=3),
            "datatype": st.sampled_from(["FP32", "FP64", "INT64", "INT8", "UINT8", "BOOL", "BYTES", "FP16", "X"]),
        },
        optional={"data": nested, "parameters": st.fixed_dictionaries({"binary_data_size": st.integers(-2, 64)})},
    ),
    max_size=3,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model=st.sampled_from(["adder", "iris"]), inputs=oip_inputs, tail=st.binary(max_size=48), binary=st.booleans())
def test_oip_shaped_requests_never_500(client, model, inputs, tail, binary):
    header = orjson.dumps({"inputs": inputs, "parameters": {"binary_data_output": binary}})
    headers = {"content-type": "application/octet-stream", "inference-header-content-length": str(len(header))}
    response = _post(client, f"/v2/models/{model}/infer", header + tail, headers)
    assert response.status_code < 500, response.text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(["/models/adder/predict", "/models/iris/predict", "/v1/models/adder:predict"]),
    a=nested,
    b=nested,
    key=st.sampled_from(["inputs", "rows", "instances"]),
)
def test_tensor_shaped_requests_never_500(client, route, a, b, key):
    payload = {key: {"a": a, "b": b, "X": a} if key == "inputs" else [a, b]}
    response = _post(client, route, orjson.dumps(payload), {"content-type": "application/json"})
    assert response.status_code < 500, response.text
