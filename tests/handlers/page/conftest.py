"""Fixtures: two models packaged through ``package()`` (iris, and a classifier whose labels hold markup),
served by the real app on a loopback port."""

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
