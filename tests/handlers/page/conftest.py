"""Fixtures: models packaged through ``package()`` and served by the real app on a loopback port: iris and a
classifier whose labels hold markup, a tiny generative model (chat) and a tiny speech model (CTC)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.settings import Settings
from tests.handlers.conftest import LiveServer

#: Labels a careless or hostile trainer could choose: the page must show them as text.
MARKUP_LABELS = ["<script>alert('x')</script>", "<b>bold</b>", "a & b"]


@pytest.fixture(scope="session")
def page_bundles(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    import model_packager

    out = tmp_path_factory.mktemp("page-bundles")
    data = load_iris()
    x = data.data.astype(np.float32)
    names = np.asarray(["setosa", "versicolor", "virginica"], dtype=object)
    iris = LogisticRegression(max_iter=500).fit(x, names[data.target])
    marked = LogisticRegression(max_iter=500).fit(x, np.asarray(MARKUP_LABELS, dtype=object)[data.target])
    built = [
        model_packager.package(iris, name="iris", version="1.0.0", sample=x[::10], out=out),
        model_packager.package(iris, name="iris", version="1.1.0", sample=x[::10], out=out),
        model_packager.package(marked, name="markup", version="0.1.0", sample=x[::10], out=out),
    ]
    return [result.directory for result in built]


@pytest.fixture(scope="session")
def page_server(page_bundles: list[Path]):
    settings = Settings.load(environ={}, access_log=False, intra_op_threads=1)
    with LiveServer(create_app(ModelRepository.load(settings, page_bundles), settings)) as server:
        yield server


@pytest.fixture(scope="session")
def chat_runtime(tmp_path_factory: pytest.TempPathFactory):
    """The tiny Qwen2-style generative bundle (tests/genmodels.py), packaged and loaded once."""
    from handlers.generation.runtime import load_generative
    from tests.genmodels import package_tiny

    bundle = package_tiny("qwen2", tmp_path_factory.mktemp("page-chat"))
    runtime = load_generative(bundle, Settings.load(environ={}, access_log=False, metrics="none"))
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def chat_server(chat_runtime):
    """The generative model served by the real app on a loopback port, as ``maaskit serve`` serves it."""
    settings = Settings.load(environ={}, access_log=False, metrics="none")
    with LiveServer(create_app(ModelRepository([chat_runtime]), settings)) as server:
        yield server


@pytest.fixture(scope="session")
def speech_server(tmp_path_factory: pytest.TempPathFactory):
    """A tiny wav2vec2 CTC bundle (tests/speechmodels.py), packaged and served on a loopback port."""
    from model_packager.api import package
    from tests.speechmodels import save_wav2vec2

    work = tmp_path_factory.mktemp("page-speech")
    bundle = package(save_wav2vec2(work / "wav2vec2"), name="tiny-ctc", version="1.0.0", out=work / "bundles")
    settings = Settings.load(environ={}, access_log=False, metrics="none")
    with LiveServer(create_app(ModelRepository.load(settings, [bundle.directory]), settings)) as server:
        yield server


@pytest.fixture(scope="session")
def base_model_server(tmp_path_factory: pytest.TempPathFactory):
    """A tiny generative model without a chat template (a base model): it completes prompts only."""
    import json

    from model_packager import package
    from tests.genmodels import save_qwen2

    work = tmp_path_factory.mktemp("page-base")
    folder = save_qwen2(work / "folder")
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    bundle = package(folder, name="tiny-base", version="1.0.0", out=work / "bundles").directory
    settings = Settings.load(environ={}, access_log=False, metrics="none")
    repository = ModelRepository.load(settings, [bundle])
    with LiveServer(create_app(repository, settings)) as server:
        yield server
    for runtime in repository:
        close = getattr(runtime, "close", None)
        if close is not None:
            close()
