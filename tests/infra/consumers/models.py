"""Bundles and Lambda handlers for the consumer tests, built once per test process."""

from __future__ import annotations

import atexit
import functools
import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def _scratch() -> Path:
    path = Path(tempfile.mkdtemp(prefix="maaskit-consumers-"))
    atexit.register(shutil.rmtree, path, True)
    return path


@functools.cache
def embedder_bundle() -> Path:
    """A tiny sentence-embedding bundle (random weights, WordPiece tokenizer) named ``embedder``."""
    from model_packager import package
    from tests.handlers.text.folders import CORPUS, embedding_folder

    out = _scratch()
    folder = embedding_folder(out / "folder")
    return Path(
        package(
            folder, name="embedder", version="1.0.0", task="feature-extraction", sample=list(CORPUS), out=out
        ).directory
    )


IRIS_FEATURES = 4


@functools.cache
def iris_bundle() -> Path:
    """An iris classifier (input ``X`` [n, 4]) whose samples are every third iris row (50): a usable reference."""
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from model_packager import package

    data = load_iris()
    x = data.data.astype(np.float32)
    model = LogisticRegression(max_iter=500).fit(x, data.target)
    onx = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset=17)
    return Path(package(onx, name="iris", version="1.0.0", sample={"X": x[::3]}, out=_scratch()).directory)


def iris_traffic() -> np.ndarray:
    """Iris rows the reference has not seen (rows 1, 4, 7, ...)."""
    from sklearn.datasets import load_iris

    return load_iris().data.astype(np.float32)[1::3]


def lambda_handler(*bundles: Path, environ: dict[str, str] | None = None) -> Any:
    """A fresh ``handlers.lambda_entry.handler`` serving ``bundles`` (Lambda defaults: EMF metrics)."""
    saved = {
        key: os.environ.get(key)
        for key in ("MAASKIT_BUNDLES", "MAASKIT_INTRA_OP_THREADS", "MAASKIT_METRICS", *(environ or {}))
    }
    os.environ["MAASKIT_BUNDLES"] = os.pathsep.join(str(b) for b in bundles)
    os.environ["MAASKIT_INTRA_OP_THREADS"] = "1"
    os.environ.pop("MAASKIT_METRICS", None)
    os.environ.update(environ or {})
    try:
        sys.modules.pop("handlers.lambda_entry", None)
        module = importlib.import_module("handlers.lambda_entry")
        return module.handler
    finally:
        sys.modules.pop("handlers.lambda_entry", None)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
