"""Hostile bodies at every protocol's predict route: each is a 4xx that says what is wrong, never a 5xx.

Complements ``tests/handlers/protocols/test_fuzz.py`` (random JSON and bytes) with the cases random
generation rarely reaches: NaN/Infinity literals, nesting thousands deep, bodies over the size limit,
empty batches, dimensions that overflow when multiplied, negative dimensions.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.settings import LAMBDA_MAX_BODY_BYTES
from tests.handlers.conftest import asgi_post

#: route -> that protocol's body around a batch of iris rows (ROWS is replaced by the rows' JSON text)
TEMPLATES = {
    "/models/iris/predict": '{"inputs": {"X": ROWS}}',
    "/v1/models/iris:predict": '{"instances": ROWS}',
    "/predictions/iris": '{"instances": ROWS}',
    "/invocations": '{"instances": ROWS}',
    "/v2/models/iris/infer": '{"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": ROWS}]}',
}
ROUTES = list(TEMPLATES)


def wrap(route: str, rows: str) -> str:
    """The body of ``route`` carrying ``rows`` (JSON text, possibly hostile)."""
    return TEMPLATES[route].replace("ROWS", rows)


JSON = {"content-type": "application/json", "x-maaskit-model": "iris"}


def _post(app, route: str, body: bytes | str, headers: dict[str, str] | None = None):
    content = body.encode() if isinstance(body, str) else body
    return asgi_post(app, route, content=content, headers=headers or JSON)


def _assert_refused(response, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert response.text.strip(), "a refusal carries a message"
    assert "Traceback" not in response.text


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused(rel_app, route, literal):
    body = wrap(route, f"[[{literal}, 1.0, 1.0, 1.0]]")
    _assert_refused(_post(rel_app, route, body), 400, 422)


@pytest.mark.parametrize("route", ROUTES)
def test_deeply_nested_body_is_refused(rel_app, route):
    depth = 50_000
    _assert_refused(_post(rel_app, route, wrap(route, "[" * depth + "]" * depth)), 400, 422)


@pytest.mark.parametrize("route", ROUTES)
def test_body_over_the_limit_is_413(rel_app, route):
    row = "[5.1, 3.5, 1.4, 0.2],"
    rows = "[" + row * (LAMBDA_MAX_BODY_BYTES // len(row) + 10) + "[5.1, 3.5, 1.4, 0.2]]"
    response = _post(rel_app, route, wrap(route, rows))
    _assert_refused(response, 413)


@pytest.mark.parametrize("route", ROUTES)
def test_empty_batch_is_refused_or_empty(rel_app, route):
    response = _post(rel_app, route, wrap(route, "[]"))
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert "5.1" not in response.text  # an empty answer, nothing invented


@pytest.mark.parametrize("shape", [[2**62, 2**62], [-1, 4], [0, 4], [1, -4], [2**31, 2**31, 4], [1] * 40, [10**30, 4]])
def test_oip_dimensions_that_overflow_or_are_negative(rel_app, shape):
    body = {"inputs": [{"name": "X", "shape": shape, "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}
    _assert_refused(_post(rel_app, "/v2/models/iris/infer", json.dumps(body)), 400, 422)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(ROUTES),
    media=st.sampled_from(
        ["text/html", "application/xml", "multipart/form-data; boundary=x", "application/json; charset=latin-1", "*/*"]
    ),
    value=st.floats(allow_nan=False, allow_infinity=False, width=32),
)
def test_wrong_content_types_are_4xx(rel_app, route, media, value):
    body = wrap(route, f"[[{value!r}, 1.0, 1.0, 1.0]]")
    response = _post(rel_app, route, body, {"content-type": media, "x-maaskit-model": "iris"})
    assert response.status_code < 500, response.text
