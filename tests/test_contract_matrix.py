"""Every kind of bundle maaskit makes goes the whole way: packaged, verified, served, and through the
pre-traffic hook.

Regressors with targets from 1e-3 to 1e7 (house prices around 250,000 among them: float32
inference is off by ~0.01 there, far beyond an absolute 1e-4 yet well within the relative
tolerance), classifiers with string and integer labels, an imputer pipeline whose samples hold NaN,
int8-quantized and graph-optimized MLPs, each text task (feature-extraction, text-classification,
token-classification: tiny random-weight BERTs) and an image classifier (a tiny ViT). For each: it
packages, ``maaskit verify`` passes, the runtime loads it as ``maaskit serve`` does (warm-up
included), the staged pre-traffic hook passes against the REAL Lambda handler (OIP binary requests
through a fake boto3 Lambda client, status to a fake CodeDeploy client), and the hook FAILS when the
served model's weights are swapped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bundle.parity import INT8_TOLERANCES, tolerances_for
from handlers.engine import ModelRepository
from handlers.settings import Settings
from model_packager import package
from model_packager.verify import verify_bundle
from tests.bundle.serving import answers_to, lambda_handler, run_hook, staged_hook, swapped_weights

_RNG = np.random.default_rng(11)
FEATURES = _RNG.normal(size=(200, 6)).astype(np.float32)
WEIGHTS = _RNG.uniform(-0.4, 0.4, 6)


#: House-like features (square feet, rooms, baths, age, ...) and prices around 300,000.
HOUSES = (FEATURES * [800, 1, 1, 30, 5, 10] + [1800, 3, 2, 40, 10, 20]).astype(np.float32)
PRICES = 150 * HOUSES[:, 0] + 10_000 * HOUSES[:, 1] - 900 * HOUSES[:, 3] + _RNG.normal(0, 5_000, len(HOUSES))


def _regressor(scale: float | None) -> Callable[[], tuple[Any, dict[str, Any]]]:
    """Scaler + LinearRegression on the house features; targets around ``scale`` (None: the prices themselves)."""

    def make() -> tuple[Any, dict[str, Any]]:
        from sklearn.linear_model import LinearRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        target = PRICES if scale is None else PRICES / PRICES.mean() * scale
        return make_pipeline(StandardScaler(), LinearRegression()).fit(HOUSES, target), {"sample": HOUSES[:48]}

    return make


def _iris_strings() -> tuple[Any, dict[str, Any]]:
    from sklearn.linear_model import LogisticRegression

    species = np.asarray(["setosa", "versicolor", "virginica"])[np.digitize(FEATURES[:, 0], [-0.5, 0.5])]
    return LogisticRegression(max_iter=500).fit(FEATURES, species), {}


def _forest_ints() -> tuple[Any, dict[str, Any]]:
    from sklearn.ensemble import RandomForestClassifier

    classes = np.digitize(FEATURES[:, 0] + FEATURES[:, 1], [-0.7, 0.7])
    return RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0).fit(FEATURES, classes), {}


def _mlp_regressor_int8() -> tuple[Any, dict[str, Any]]:
    from sklearn.neural_network import MLPRegressor

    target = 1_000 * (5.0 + FEATURES @ WEIGHTS)
    mlp = MLPRegressor(hidden_layer_sizes=(64, 64), max_iter=300, random_state=0).fit(FEATURES, target)
    return mlp, {"quantize": "int8"}


def _mlp_classifier_optimized() -> tuple[Any, dict[str, Any]]:
    from sklearn.neural_network import MLPClassifier

    classes = np.digitize(FEATURES[:, 0], [-0.5, 0.5])
    mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=500, random_state=0).fit(FEATURES, classes)
    return mlp, {"optimize": "extended"}


def _imputer_with_nan() -> tuple[Any, dict[str, Any]]:
    """SimpleImputer + LinearRegression: its samples hold NaN, which the served model must take intact."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline

    holes = FEATURES.copy()
    holes[_RNG.random(holes.shape) < 0.15] = np.nan
    model = make_pipeline(SimpleImputer(), LinearRegression()).fit(holes, 3.0 + FEATURES @ WEIGHTS)
    return model, {"sample": holes[:48]}


def _text(kind: str) -> Callable[[], tuple[Any, dict[str, Any]]]:
    """A tiny random-weight BERT saved as users save it (``tests.textmodels``), packaged from its folder."""

    def make() -> tuple[Any, dict[str, Any]]:
        pytest.importorskip("transformers")
        from tests.textmodels import save_hf_folder, save_sentence_transformer

        folder = FOLDERS["root"] / kind
        if not folder.exists():
            if kind == "feature-extraction":
                pytest.importorskip("sentence_transformers")
                save_sentence_transformer(folder)
            else:
                save_hf_folder(folder, "sequence" if kind == "text-classification" else "token")
        return folder, {"sample": None}

    return make


def _vit() -> tuple[Any, dict[str, Any]]:
    pytest.importorskip("transformers")
    pytest.importorskip("PIL")
    from tests.imagemodels import save_vit_folder

    folder = FOLDERS["root"] / "vit"
    if not folder.exists():
        save_vit_folder(folder)
    return folder, {"sample": None, "task": "image-classification"}


MATRIX: dict[str, Callable[[], tuple[Any, dict[str, Any]]]] = {
    "linear-1e-3": _regressor(1e-3),
    "linear-1": _regressor(1.0),
    "linear-1e3": _regressor(1e3),
    "house-prices": _regressor(None),
    "linear-1e7": _regressor(1e7),
    "logistic-strings": _iris_strings,
    "forest-ints": _forest_ints,
    "mlp-int8": _mlp_regressor_int8,
    "mlp-extended": _mlp_classifier_optimized,
    "imputer-nan": _imputer_with_nan,
    "embeddings": _text("feature-extraction"),
    "sentiment": _text("text-classification"),
    "entities": _text("token-classification"),
    "vit": _vit,
}
#: Where the text and image models' folders are saved ("root", set by the module fixture).
FOLDERS: dict[str, Path] = {}


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    FOLDERS["root"] = tmp_path_factory.mktemp("matrix-models")
    return tmp_path_factory.mktemp("matrix")


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")  # the MLPs stay tiny: not converged is fine here
@pytest.mark.parametrize("name", list(MATRIX))
def test_packaged_bundle_is_verified_served_passes_the_hook_and_fails_it_when_swapped(name: str, out: Path) -> None:
    model, options = MATRIX[name]()
    sample = options.pop("sample", FEATURES[:48])
    result = package(model, name=name, version="1.0.0", sample=sample, out=out, **options)
    if options.get("quantize") == "int8":
        assert result.manifest.optimization is not None  # checked with the int8 gate's tolerances from here on
        assert (tolerances_for(result.manifest).atol, tolerances_for(result.manifest).rtol) == (
            INT8_TOLERANCES.atol,
            INT8_TOLERANCES.rtol,
        )
    assert result.manifest.nonfinite_inputs == (name == "imputer-nan")

    verified = verify_bundle(result.directory)
    assert verified.passed, verified.steps

    settings = Settings.load(environ={}, bundles=[str(result.archive)], access_log=False, intra_op_threads=1)
    repository = ModelRepository.load(settings)  # what `maaskit serve` does: verified, warmed up against samples
    assert repository.ready
    if result.manifest.text is None and result.manifest.image is None:
        request = {
            "path": f"/models/{name}/predict",
            "headers": {"content-type": "application/json"},
            "body": json.dumps({"inputs": {"input": np.asarray(sample[:3]).tolist()}}),
        }
        (answer,) = answers_to(repository, settings, [request])
        assert len(np.asarray(next(iter(answer.values())))) == 3

    hook = staged_hook(result.directory, out / f"{name}-hook")
    passed = run_hook(hook, lambda_handler(result.directory))
    assert (passed.status, passed.problems) == ("Succeeded", [])
    assert all(event["path"] == f"/v2/models/{name}/infer" and event["isBase64Encoded"] for event in passed.events)

    swapped = swapped_weights(result.directory, out / f"{name}-swapped")
    failed = run_hook(hook, lambda_handler(swapped, verify_samples=False))
    assert failed.status == "Failed" and failed.problems, failed
