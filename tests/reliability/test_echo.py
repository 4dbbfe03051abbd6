"""Over-long model names and versions are 400s that do not repeat them; access-log fields are capped.

In-process (the ASGI app, as on Lambda, where no server header limit applies first): a version of
100,000 characters in the header, the query or the path, and a name of 10,000 characters.
"""

from __future__ import annotations

import orjson
import pytest

from handlers.app import create_app
from handlers.observability import FIELD_LOG_LIMIT
from handlers.settings import Settings
from tests.handlers.conftest import asgi_get, asgi_post

LONG = "9" * 100_000
PATH_LONG = "9" * 20_000  # httpx refuses URLs over 64 KiB
ROW = [[5.1, 3.5, 1.4, 0.2]]
PREDICT = {
    "/models/iris/predict": {"inputs": {"X": ROW}},
    "/v1/models/iris:predict": {"instances": ROW},
    "/predictions/iris": {"instances": ROW},
    "/invocations": {"instances": ROW},
    "/v2/models/iris/infer": {"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": ROW}]},
}


@pytest.fixture(scope="module")
def logged_app(rel_bundles, rel_repository):
    bundles = [str(path) for path in rel_bundles.all]
    settings = Settings.load(environ={}, bundles=bundles, metrics="none", access_log=True)
    return create_app(rel_repository, settings)


def _log_line(capsys) -> dict:
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return orjson.loads(lines[-1])


@pytest.mark.parametrize("route", list(PREDICT))
def test_long_version_header_is_400_without_the_value(logged_app, capsys, route):
    headers = {"x-maaskit-model-version": LONG, "x-maaskit-model": "iris"}
    answer = asgi_post(logged_app, route, json=PREDICT[route], headers=headers)
    assert answer.status_code == 400, answer.text[:300]
    assert len(answer.content) < 1000 and "999999" not in answer.text
    assert "at most 64" in answer.text
    line = _log_line(capsys)
    assert all(len(str(value)) <= FIELD_LOG_LIMIT + 40 for key, value in line.items() if key != "error")
    assert len(orjson.dumps(line)) < 5000


@pytest.mark.parametrize(
    "path",
    [
        f"/models/iris/versions/{PATH_LONG}/predict",
        f"/v2/models/iris/versions/{PATH_LONG}/infer",
        f"/v1/models/iris/versions/{PATH_LONG}:predict",
        f"/predictions/iris/{PATH_LONG}",
    ],
)
def test_long_version_in_the_path_is_400_without_the_value(logged_app, capsys, path):
    body = next(body for route, body in PREDICT.items() if path.startswith(route.split("/iris")[0]))
    answer = asgi_post(logged_app, path, json=body)
    assert answer.status_code == 400, answer.text[:300]
    assert "999999" not in answer.text
    assert len(orjson.dumps(_log_line(capsys))) < 5000


@pytest.mark.parametrize("path", ["/models/{}", "/v2/models/{}", "/v1/models/{}"])
def test_long_model_name_is_400_without_the_value(logged_app, capsys, path):
    answer = asgi_get(logged_app, path.format("m" * 10_000))
    assert answer.status_code == 400, answer.text[:300]
    assert "mmmmmmmmmm" not in answer.text and "at most 48" in answer.text
    assert len(orjson.dumps(_log_line(capsys))) < 5000


def test_unknown_long_path_404_echoes_at_most_a_capped_path(logged_app, capsys):
    answer = asgi_get(logged_app, "/" + "x" * 50_000)
    assert answer.status_code == 404
    assert len(answer.content) < 1000
    line = _log_line(capsys)
    assert len(line["path"]) <= FIELD_LOG_LIMIT + 40
