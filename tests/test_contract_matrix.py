"""Every bundle ``package()`` accepts is verified, served and passes the pre-traffic hook.

Regressors with targets from 1e-3 to 1e7 (house prices around 250,000 among them: float32
inference is off by ~0.01 there, far beyond an absolute 1e-4 yet well within the relative
tolerance), classifiers with string and integer labels, and int8-quantized and graph-optimized
MLPs. For each: it packages, ``maaskit verify`` passes, the runtime loads it as ``maaskit serve``
does (warm-up included), one request is answered, and the hook's check passes on the served answer.
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
from tests.bundle.serving import answers_to, hook_verdict

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
}


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("matrix")


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")  # the MLPs stay tiny: not converged is fine here
@pytest.mark.parametrize("name", list(MATRIX))
def test_packaged_bundle_is_verified_served_and_passes_the_hook(name: str, out: Path) -> None:
    model, options = MATRIX[name]()
    sample = options.pop("sample", FEATURES[:48])
    result = package(model, name=name, version="1.0.0", sample=sample, out=out, **options)
    if options.get("quantize") == "int8":
        assert result.manifest.optimization is not None  # checked with the int8 gate's tolerances from here on
        assert (tolerances_for(result.manifest).atol, tolerances_for(result.manifest).rtol) == (
            INT8_TOLERANCES.atol,
            INT8_TOLERANCES.rtol,
        )

    verified = verify_bundle(result.directory)
    assert verified.passed, verified.steps

    settings = Settings.load(environ={}, bundles=[str(result.archive)], access_log=False, intra_op_threads=1)
    repository = ModelRepository.load(settings)  # what `maaskit serve` does: verified, warmed up against samples
    assert repository.ready

    request = {
        "path": f"/models/{name}/predict",
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"inputs": {"input": np.asarray(sample[:3]).tolist()}}),
    }
    (answer,) = answers_to(repository, settings, [request])
    assert len(np.asarray(next(iter(answer.values())))) == 3

    assert hook_verdict(result.directory, repository, settings, out / f"{name}-hook") == []
