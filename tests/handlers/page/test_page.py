"""The page in-process: negotiation leaves JSON clients alone, nothing secret is shown, metrics are charted."""

from __future__ import annotations

import os

import pytest

from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.page import wants_html
from handlers.settings import Settings
from tests.handlers.conftest import asgi_get, asgi_post

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture(scope="module")
def app(page_bundles):
    settings = Settings.load(environ={}, access_log=False, intra_op_threads=1)
    return create_app(ModelRepository.load(settings, page_bundles), settings)


@pytest.mark.parametrize(
    ("accept", "default", "html"),
    [
        (BROWSER, False, True),
        ("application/json", True, False),
        ("*/*", False, False),
        ("*/*", True, True),
        ("", True, True),
        ("application/json, text/html;q=0.5", True, False),
        ("text/html;q=0", True, False),
    ],
)
def test_accept_negotiation(accept: str, default: bool, html: bool) -> None:
    assert wants_html(accept, by_default=default) is html


def test_programs_still_get_json(app) -> None:
    for accept in ("*/*", "application/json", ""):
        answer = asgi_get(app, "/models/iris", headers={"accept": accept})
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json()["name"] == "iris"


def test_browsers_get_the_page_with_a_strict_policy(app) -> None:
    answer = asgi_get(app, "/models/iris", headers={"accept": BROWSER})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'nonce-" in policy and "unsafe-inline" not in policy
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert answer.text.count(f'nonce="{nonce}"') == 2  # the one style and the one script
    assert "https://" not in answer.text and "cdn" not in answer.text.lower()


def test_no_environment_or_secrets_on_the_page(app, monkeypatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-show-this-secret")
    page = asgi_get(app, "/models/iris", headers={"accept": BROWSER}).text + asgi_get(app, "/").text
    assert "do-not-show-this-secret" not in page
    assert os.environ.get("HOME", "/root") not in page


def test_unknown_model_page_is_an_escaped_404(app) -> None:
    answer = asgi_get(app, "/models/%3Cimg%20src%3Dx%3E", headers={"accept": BROWSER})
    assert answer.status_code == 404
    assert "<img" not in answer.text and "&lt;img" in answer.text


def test_latency_per_version_is_charted_from_the_servers_metrics(page_bundles) -> None:
    settings = Settings.load(environ={}, access_log=False, intra_op_threads=1)
    app = create_app(ModelRepository.load(settings, page_bundles), settings)  # fresh metrics
    for version in ("1.0.0", "1.1.0", "1.1.0"):
        body = {"inputs": {"input": [[5.1, 3.5, 1.4, 0.2]]}}
        assert asgi_post(app, f"/models/iris/versions/{version}/predict", json=body).status_code == 200
    page = asgi_get(app, "/models/iris", headers={"accept": BROWSER}).text
    chart = page[page.index("<svg") : page.index("</svg>")]
    assert "1.0.0" in chart and "1.1.0" in chart
    assert "1 req" in chart and "2 req" in chart


def test_off_on_lambda_unless_the_deploy_file_enables_it(page_bundles, monkeypatch) -> None:
    monkeypatch.setenv("MAASKIT_BUNDLES", str(page_bundles[0]))  # the entry opens its bundle at import
    from handlers.lambda_entry import default_settings

    assert default_settings({}).page is False
    assert default_settings({"MAASKIT_PAGE": "true"}).page is True
    assert Settings.load(environ={}).page is True  # maaskit serve and the SageMaker container


@pytest.mark.parametrize(
    ("prompt", "found"),
    [
        ({"messages": [{"role": "user", "content": "Hi"}]}, ("", "Hi")),
        (
            {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]},
            ("Be brief.", "Hi"),
        ),
        ({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}, None),
        ({"messages": [{"role": "system", "content": "Be brief."}]}, None),
        ({"messages": []}, None),
        ({"prompt": "Once upon a time"}, None),
        ("a bare string", None),
    ],
)
def test_the_chat_box_starts_from_a_sample_conversation_without_answers(prompt: object, found: object) -> None:
    from handlers.page.views import _conversation

    assert _conversation(prompt) == found
