"""Packaging time, bundle size and parity per framework (the packager's own converters).

    .venv/bin/python bench/package_sizes.py [--out DIR]

Times are in-process (framework imports excluded, each case packaged once after a
warm-up of the same converter); sizes are the deterministic .tar.gz and model.onnx.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import onnx
import pandas as pd
import xgboost as xgb
from skl2onnx import to_onnx
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from model_packager import package

warnings.filterwarnings("ignore")
X, Y = load_iris(return_X_y=True)


def _mixed() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"age": rng.normal(40, 12, 500), "visits": rng.integers(0, 20, 500), "plan": rng.choice(["a", "b", "c"], 500)}
    )
    target = np.where((frame["age"] > 40) ^ (frame["plan"] == "b"), "churn", "stay")
    columns = ColumnTransformer([("n", StandardScaler(), ["age", "visits"]), ("c", OneHotEncoder(), ["plan"])])
    model = Pipeline([("pre", columns), ("rf", RandomForestClassifier(n_estimators=100, random_state=0))])
    return model.fit(frame, target), frame.head(64)


def _cases(work: Path) -> dict[str, Callable[[], tuple[Any, Any, dict[str, Any]]]]:
    def sklearn_lr() -> tuple[Any, Any, dict[str, Any]]:
        model = Pipeline([("s", StandardScaler()), ("lr", LogisticRegression(max_iter=500))]).fit(X, Y)
        return model, X[:64], {}

    def xgb_native() -> tuple[Any, Any, dict[str, Any]]:
        booster = xgb.train({"objective": "multi:softprob", "num_class": 3}, xgb.DMatrix(X, label=Y), 100)
        path = work / "xgb.ubj"
        booster.save_model(path)
        return path, X[:64], {}

    def lgbm_native() -> tuple[Any, Any, dict[str, Any]]:
        params = {"objective": "multiclass", "num_class": 3, "verbose": -1}
        booster = lgb.train(params, lgb.Dataset(X, label=Y), 100)
        path = work / "lgbm.txt"
        booster.save_model(path)
        return path, X[:64], {}

    def xgb_pipeline() -> tuple[Any, Any, dict[str, Any]]:
        model = Pipeline([("s", StandardScaler()), ("x", xgb.XGBClassifier(n_estimators=100))]).fit(X, Y)
        return model, X[:64], {}

    def onnx_file() -> tuple[Any, Any, dict[str, Any]]:
        model = LogisticRegression(max_iter=500).fit(X, Y)
        path = work / "lr.onnx"
        onnx.save(to_onnx(model, X[:1].astype(np.float32), options={"zipmap": False}), path)
        return path, X[:64], {}

    def mlp(optimize: str, quantize: str | None) -> Callable[[], tuple[Any, Any, dict[str, Any]]]:
        def build() -> tuple[Any, Any, dict[str, Any]]:
            rng = np.random.default_rng(0)
            features = rng.standard_normal((500, 64))
            model = MLPRegressor(hidden_layer_sizes=(512, 512), max_iter=20, random_state=0).fit(
                features, np.tanh(features[:, :4].sum(1))
            )
            return model, features[:64], {"optimize": optimize, "quantize": quantize}

        return build

    return {
        "sklearn LogisticRegression pipeline": sklearn_lr,
        "sklearn ColumnTransformer+RF(100), mixed columns": lambda: (*_mixed(), {}),
        "xgboost native .ubj (100 rounds x 3 classes)": xgb_native,
        "xgboost XGBClassifier in Pipeline": xgb_pipeline,
        "lightgbm native .txt (100 rounds x 3 classes)": lgbm_native,
        "onnx file (LogisticRegression)": onnx_file,
        "sklearn MLP 64-512-512-1": mlp("none", None),
        "sklearn MLP + extended": mlp("extended", None),
        "sklearn MLP + extended + int8": mlp("extended", "int8"),
    }


def _parity(result: Any) -> str:
    parts = []
    for check in result.parity.checks:
        if check.metric in {"max_abs_diff", "label_agreement"}:
            parts.append(f"{check.output}:{check.metric.split('_')[0]}={check.measured:.2g}")
    return ("PASS " if result.parity.passed else "FAIL ") + " ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        out = args.out or work / "bundles"
        print(f"{'case':50} {'package s':>9} {'model.onnx':>11} {'tar.gz':>9}  parity (the bundled model vs original)")
        for index, (label, build) in enumerate(_cases(work).items()):
            model, sample, extra = build()
            package(model, name="warmup", version=f"0.0.{index}", sample=sample, out=work / "warm", **extra)
            started = time.perf_counter()
            result = package(model, name="bench", version=f"1.0.{index}", sample=sample, out=out, **extra)
            elapsed = time.perf_counter() - started
            size = result.manifest.files["model.onnx"].size
            print(f"{label:50} {elapsed:9.3f} {size:11,d} {result.archive_size:9,d}  {_parity(result)}")


if __name__ == "__main__":
    main()
