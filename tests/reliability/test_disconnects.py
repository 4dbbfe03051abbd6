"""A client that vanishes mid-body is a 499 in the access log and a ``client_disconnects`` count, never a 5xx.

The error counts (Prometheus ``class="server"``, EMF ``ServerErrors``) are what dashboards page on and what
the SageMaker rollback alarms watch (the container's 5xx become ``Invocation5XXErrors``): a disconnect storm
must leave them at zero while a normal client is served.
"""

from __future__ import annotations

import asyncio
import re

import httpx
import orjson
import pytest

from bench import hostile_clients as probe
from handlers.app import create_app
from handlers.metrics import emf_fields
from handlers.settings import Settings
from tests.reliability.conftest import GuardedServer
from tests.reliability.test_slow_clients import NormalClient

STORM = 30
ROUTES = ["/predictions/iris", "/models/iris/predict", "/v1/models/iris:predict", "/v2/models/iris/infer"]


@pytest.fixture(scope="module")
def observed(rel_bundles, rel_repository):
    bundles = [str(path) for path in rel_bundles.all]
    settings = Settings.load(environ={}, intra_op_threads=1, bundles=bundles, metrics="prometheus", access_log=True)
    with GuardedServer(create_app(rel_repository, settings), settings) as live:
        yield live


def _server_errors(metrics_text: str) -> int:
    return sum(int(n) for n in re.findall(r'maaskit_request_errors_total\{[^}]*class="server"\} (\d+)', metrics_text))


def _disconnects(metrics_text: str) -> int:
    return sum(int(n) for n in re.findall(r"maaskit_client_disconnects_total\{[^}]*\} (\d+)", metrics_text))


def test_disconnect_storm_is_499_and_counted_never_a_server_error(observed, capsys, caplog):
    with NormalClient(observed.url):
        for index in range(STORM):
            probe.disconnect_mid_body(observed.port, ROUTES[index % len(ROUTES)], reset=index % 2 == 1)
    with httpx.Client(base_url=observed.url, timeout=5) as client:
        for _ in range(50):  # the server notices each disconnect when it next reads that body
            text = client.get("/metrics").text
            if _disconnects(text) >= STORM:
                break
            asyncio.run(asyncio.sleep(0.05))
    assert _disconnects(text) == STORM
    assert _server_errors(text) == 0
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    abandoned = [line for line in lines if line["status"] == 499]
    assert len(abandoned) == STORM
    assert all(line["level"] == "INFO" and "closed the connection" in line["error"] for line in abandoned)
    assert not [line for line in lines if line["status"] >= 500]
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


def test_emf_counts_a_disconnect_apart_from_client_and_server_errors():
    fields = emf_fields("maaskit", "iris", "1.0.0", 499, 3.0)
    assert (fields["ClientDisconnects"], fields["ClientErrors"], fields["ServerErrors"]) == (1, 0, 0)
    names = [metric["Name"] for metric in fields["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert "ClientDisconnects" in names


def test_in_process_disconnect_sends_nothing_and_logs_499(rel_bundles, rel_repository, capsys):
    bundles = [str(path) for path in rel_bundles.all]
    settings = Settings.load(environ={}, bundles=bundles, metrics="none", access_log=True)
    app = create_app(rel_repository, settings)
    sent: list[dict] = []
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/predictions/iris",
        "raw_path": b"/predictions/iris",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("test", 80),
        "client": ("test", 1),
        "root_path": "",
    }

    async def receive():
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent == []  # nobody is listening: nothing is sent, least of all a 500
    line = orjson.loads(capsys.readouterr().out.splitlines()[-1])
    assert (line["status"], line["level"]) == (499, "INFO")
