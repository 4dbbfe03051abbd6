"""Retries: 429/502/503/504 and connection failures only, with backoff; never other 4xx."""

from __future__ import annotations

import json

import numpy as np
import pytest

from maaskit.client import (
    AuthenticationError,
    Backoff,
    ConnectionFailedError,
    InvalidInputError,
    MaaskitClient,
    ServerError,
    ThrottledError,
)
from maaskit.client.retry import RETRY_STATUSES
from tests.client.conftest import Scripted, free_port

SIGNATURE = json.dumps(
    {"name": "m", "inputs": [{"name": "x", "dtype": "float32", "shape": [None, 2]}],
     "outputs": [{"name": "y", "dtype": "float32", "shape": [None, 2]}]}
).encode()  # fmt: skip
ANSWER = json.dumps({"model": "m", "version": "1.0.0", "outputs": {"y": [[2.0, 4.0]]}}).encode()


def make_client(url: str, sleeps: list[float], retries: int = 3) -> MaaskitClient:
    return MaaskitClient(url, retries=retries, backoff=Backoff(base=0.5, cap=4.0), sleep=sleeps.append)


def test_503_then_200_is_retried(scripted: Scripted) -> None:
    scripted.script((200, SIGNATURE), (503, b'{"message": "Service Unavailable"}'), (200, ANSWER))
    sleeps: list[float] = []
    prediction = make_client(scripted.url, sleeps).predict("m", np.array([[1, 2]], dtype=np.float32))
    np.testing.assert_array_equal(prediction["y"], [[2.0, 4.0]])
    assert [r.path for r in scripted.requests] == ["/models/m", "/models/m/predict", "/models/m/predict"]
    assert scripted.requests[1].body == scripted.requests[2].body == b'{"inputs":{"x":[[1.0,2.0]]}}'
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.5  # full jitter on the first retry


def test_400_is_never_retried(scripted: Scripted) -> None:
    error = {"error": {"status": 400, "type": "InvalidInputError", "message": "input x: expected 2 columns, got 3"}}
    scripted.script((200, SIGNATURE), (400, json.dumps(error).encode()))
    sleeps: list[float] = []
    with pytest.raises(InvalidInputError) as raised:
        make_client(scripted.url, sleeps).predict("m", np.zeros((1, 3), dtype=np.float32))
    assert raised.value.status == 400 and raised.value.message == "input x: expected 2 columns, got 3"
    assert len(scripted.requests) == 2 and sleeps == []


@pytest.mark.parametrize(("status", "kind"), [(500, ServerError), (403, AuthenticationError)])
def test_other_errors_are_not_retried(scripted: Scripted, status: int, kind: type[Exception]) -> None:
    scripted.script((status, b'{"message": "Forbidden"}'))
    with pytest.raises(kind, match="Forbidden"):
        make_client(scripted.url, []).models()
    assert len(scripted.requests) == 1


def test_throttling_backs_off_exponentially_then_raises(scripted: Scripted) -> None:
    scripted.script((429, b'{"message": "Too Many Requests"}'))
    sleeps: list[float] = []
    with pytest.raises(ThrottledError, match="Too Many Requests") as raised:
        make_client(scripted.url, sleeps, retries=3).models()
    assert raised.value.status == 429
    assert len(scripted.requests) == 4 and len(sleeps) == 3
    assert all(0 <= delay <= cap for delay, cap in zip(sleeps, [0.5, 1.0, 2.0], strict=True))


def test_retry_after_is_honoured(scripted: Scripted) -> None:
    scripted.script((503, b"busy", {"Retry-After": "2", "Content-Type": "text/plain"}), (200, b'{"models": []}'))
    sleeps: list[float] = []
    assert make_client(scripted.url, sleeps).models() == []
    assert sleeps == [2.0]


def test_all_retry_statuses_are_the_documented_ones() -> None:
    assert frozenset({429, 502, 503, 504}) == RETRY_STATUSES


def test_connection_refused_is_retried_then_raised() -> None:
    sleeps: list[float] = []
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(ConnectionFailedError, match="after 3 tries"):
        make_client(url, sleeps, retries=2).models()
    assert len(sleeps) == 2
