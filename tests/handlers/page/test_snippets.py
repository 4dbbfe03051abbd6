"""Every "copy the call" snippet on the page, copied from the rendered HTML and run against the server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

#: botocore sends InvokeEndpoint to this server's /invocations instead of AWS (the SageMaker contract).
_SAGEMAKER_PRELUDE = textwrap.dedent(
    """
    import boto3, httpx
    from urllib.parse import unquote
    from botocore.awsrequest import AWSResponse

    import io

    class _Raw(io.BytesIO):  # what urllib3 gives botocore: read() for streamed bodies, stream() for parsed ones
        def stream(self, **_): yield self.getvalue()

    def _send(request, **_):
        # One SageMaker endpoint serves one model: the endpoint name says which of this server's models.
        endpoint = unquote(request.url.split("/endpoints/")[1].split("/")[0])
        answer = httpx.post(
            {url!r} + "/invocations", content=request.body,
            headers={{"Content-Type": request.headers["Content-Type"], "Accept": request.headers.get("Accept", "*/*"),
                     "X-Maaskit-Model": endpoint.removeprefix("maaskit-<stage>-")}},
        )
        return AWSResponse(request.url, answer.status_code, dict(answer.headers), _Raw(answer.content))

    boto3.setup_default_session(region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    boto3.DEFAULT_SESSION.events.register("before-send.sagemaker-runtime.InvokeEndpoint", _send)
    """
)


class _Snippets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, str] = {}
        self._key: str | None = None
        self._in_code = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "details" and "snippet" in (values.get("class") or ""):
            self._key = values.get("data-key")
        elif tag == "code" and self._key:
            self._in_code = True
            self.found[self._key] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self._in_code = False
        elif tag == "details":
            self._key = None

    def handle_data(self, data: str) -> None:
        if self._in_code and self._key:
            self.found[self._key] += data


@pytest.fixture(scope="module")
def iris_snippets(page_server) -> dict[str, str]:
    page = httpx.get(page_server.url + "/models/iris", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200
    parser = _Snippets()
    parser.feed(page.text)
    return parser.found


@pytest.fixture(scope="module")
def expected_labels(page_server) -> list[str]:
    page = httpx.get(page_server.url + "/models/iris", headers={"Accept": "text/html"}, timeout=10)
    start = page.text.index('id="try-expected">') + len('id="try-expected">')
    from html import unescape

    labels: list[str] = json.loads(unescape(page.text[start : page.text.index("</pre>", start)]))["label"]
    return labels


def page_snippets(url: str, model: str, max_bytes: int | None = None) -> dict[str, str]:
    """The copy-the-call snippets of ``model``'s page at ``url`` (the page at most ``max_bytes`` long)."""
    page = httpx.get(f"{url}/models/{model}", headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200, page.text[:500]
    assert max_bytes is None or len(page.text) < max_bytes, f"the page is {len(page.text)} characters"
    parser = _Snippets()
    parser.feed(page.text)
    return parser.found


def run_snippet(command: list[str], code: str | None = None, cwd: Path | None = None) -> str:
    """Run a snippet (``code`` on stdin) and return what it printed; it must exit 0."""
    result = subprocess.run(
        command, input=code, capture_output=True, text=True, timeout=120, check=False, cwd=cwd,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_the_page_offers_every_client(iris_snippets: dict[str, str]) -> None:
    assert set(iris_snippets) == {"curl", "maaskit", "tritonclient", "tfserving", "sagemaker"}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_snippet(iris_snippets, expected_labels) -> None:
    answer = json.loads(run_snippet(["bash", "-c", iris_snippets["curl"]]))
    assert answer["labels"] == expected_labels


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_tf_serving_snippet(iris_snippets, expected_labels) -> None:
    answer = json.loads(run_snippet(["bash", "-c", iris_snippets["tfserving"]]))
    assert answer["outputs"]["label"] == expected_labels


def test_maaskit_client_snippet(iris_snippets, expected_labels) -> None:
    printed = run_snippet([sys.executable, "-"], iris_snippets["maaskit"])
    assert printed.startswith("1.1.0 ")
    assert all(label in printed for label in expected_labels)


def test_tritonclient_snippet(iris_snippets, expected_labels) -> None:
    pytest.importorskip("tritonclient.http")
    printed = run_snippet([sys.executable, "-"], iris_snippets["tritonclient"])
    assert all(label in printed for label in expected_labels)


def test_sagemaker_snippet(iris_snippets, expected_labels, page_server) -> None:
    pytest.importorskip("boto3")
    code = _SAGEMAKER_PRELUDE.format(url=page_server.url) + iris_snippets["sagemaker"]
    printed = run_snippet([sys.executable, "-"], code)
    assert all(label in printed for label in expected_labels), printed


@pytest.fixture(scope="module")
def embedding_server(tmp_path_factory: pytest.TempPathFactory):
    """A tiny sentence-transformers model packaged from its folder and served on loopback."""
    import model_packager
    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.settings import Settings
    from tests.handlers.conftest import LiveServer
    from tests.textmodels import save_sentence_transformer

    work = tmp_path_factory.mktemp("page-embedder")
    folder = save_sentence_transformer(work / "embedder")
    bundle = model_packager.package(folder, name="embedder", version="1.0.0", out=work / "bundles").directory
    settings = Settings.load(environ={}, access_log=False, intra_op_threads=1)
    with LiveServer(create_app(ModelRepository.load(settings, [bundle]), settings)) as server:
        yield server


def test_embedding_models_offer_the_openai_client_and_it_runs(embedding_server) -> None:
    pytest.importorskip("openai")
    page = httpx.get(embedding_server.url + "/models/embedder", headers={"Accept": "text/html"}, timeout=10)
    parser = _Snippets()
    parser.feed(page.text)
    assert "openai" in parser.found, sorted(parser.found)
    printed = run_snippet([sys.executable, "-"], parser.found["openai"])
    count, dimensions = (int(part) for part in printed.split())
    assert count >= 1 and dimensions == 32  # the tiny BERT's hidden size


@pytest.mark.parametrize("key", ["curl", "maaskit", "tritonclient", "tfserving", "sagemaker"])
def test_every_snippet_of_a_text_model_runs(embedding_server, key: str) -> None:
    page = httpx.get(embedding_server.url + "/models/embedder", headers={"Accept": "text/html"}, timeout=10)
    parser = _Snippets()
    parser.feed(page.text)
    code = parser.found[key]
    if key in {"curl", "tfserving"}:
        if shutil.which("curl") is None:
            pytest.skip("curl is not installed")
        printed = run_snippet(["bash", "-c", code])
    elif key == "sagemaker":
        printed = run_snippet([sys.executable, "-"], _SAGEMAKER_PRELUDE.format(url=embedding_server.url) + code)
    else:
        printed = run_snippet([sys.executable, "-"], code)
    assert printed.strip(), f"{key} printed nothing"
    assert "error" not in printed.lower(), printed[:500]
