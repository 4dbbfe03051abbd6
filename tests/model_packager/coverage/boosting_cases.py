"""XGBoost, LightGBM and CatBoost cases: classifiers (binary, multi-class), regressors, rankers, random-forest
modes, sklearn wrappers (alone and in a Pipeline) and native model files."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tests.model_packager.coverage.cases import Case, dataset, frame

__all__ = ["catboost_cases", "lightgbm_cases", "xgboost_cases"]

_DATA = {"binary": "breast_cancer", "multiclass": "iris", "regression": "diabetes", "ranking": "diabetes"}


def _xy(kind: str) -> tuple[np.ndarray, np.ndarray]:
    features, target = dataset(_DATA[kind])
    if kind == "ranking":  # relevance grades 0-3 from the diabetes progression, queries of 20 rows
        target = np.digitize(target, np.quantile(target, [0.25, 0.5, 0.75]))
    return features, target


def _groups(rows: int) -> np.ndarray:
    return np.array([20] * (rows // 20) + ([rows % 20] if rows % 20 else []))


def _wrapper(make: Callable[[], Any], kind: str, pipeline: bool = False) -> Callable[[], tuple[Any, Any]]:
    def build() -> tuple[Any, Any]:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        features, target = _xy(kind)
        model = make_pipeline(StandardScaler(), make()) if pipeline else make()
        if kind == "ranking":
            model.fit(features, target, group=_groups(len(features)))
        else:
            model.fit(features, target)
        return model, features[::3]

    return build


def _saved(write: Callable[[Path], None], kind: str, suffix: str) -> Callable[[], tuple[Any, Any]]:
    """A native model file, as a user hands it to ``maaskit package``."""

    def build() -> tuple[Any, Any]:
        path = Path(tempfile.mkdtemp(prefix="maaskit-coverage-")) / f"model{suffix}"
        write(path)
        features, _ = _xy(kind)
        return path, features[::3]

    return build


def xgboost_cases() -> list[Case]:
    """XGBoost sklearn wrappers and native boosters."""
    import xgboost as xgb

    def booster(objective: str, kind: str, suffix: str) -> Callable[[Path], None]:
        def write(path: Path) -> None:
            features, target = _xy(kind)
            params: dict[str, Any] = {"objective": objective, "max_depth": 3, "nthread": 1}
            if objective.startswith("multi"):
                params["num_class"] = 3
            matrix = xgb.DMatrix(features, label=target)
            if kind == "ranking":
                matrix.set_group(_groups(len(features)))
            xgb.train(params, matrix, num_boost_round=20).save_model(str(path))

        return write

    small = {"n_estimators": 20, "max_depth": 3, "n_jobs": 1}
    return [
        Case(
            "xgboost-XGBClassifier-binary",
            "xgboost",
            _wrapper(lambda: xgb.XGBClassifier(**small), "binary"),
            quick=True,
        ),
        Case("xgboost-XGBClassifier-multiclass", "xgboost", _wrapper(lambda: xgb.XGBClassifier(**small), "multiclass")),
        Case("xgboost-XGBRegressor", "xgboost", _wrapper(lambda: xgb.XGBRegressor(**small), "regression")),
        Case("xgboost-XGBRanker", "xgboost", _wrapper(lambda: xgb.XGBRanker(**small), "ranking")),
        Case(
            "xgboost-XGBRFClassifier",
            "xgboost",
            _wrapper(lambda: xgb.XGBRFClassifier(**small), "multiclass"),
            refusal="onnxmltools/issues/663",
        ),
        Case("xgboost-XGBRFRegressor", "xgboost", _wrapper(lambda: xgb.XGBRFRegressor(**small), "regression")),
        Case(
            "xgboost-pipeline-scale-XGBClassifier",
            "xgboost",
            _wrapper(lambda: xgb.XGBClassifier(**small), "multiclass", pipeline=True),
        ),
        Case(
            "xgboost-booster-json-binary",
            "xgboost",
            _saved(booster("binary:logistic", "binary", ".json"), "binary", ".json"),
        ),
        Case(
            "xgboost-booster-ubj-softprob",
            "xgboost",
            _saved(booster("multi:softprob", "multiclass", ".ubj"), "multiclass", ".ubj"),
        ),
        Case(
            "xgboost-booster-json-regression",
            "xgboost",
            _saved(booster("reg:squarederror", "regression", ".json"), "regression", ".json"),
        ),
        Case(
            "xgboost-booster-json-rank-pairwise",
            "xgboost",
            _saved(booster("rank:pairwise", "ranking", ".json"), "ranking", ".json"),
            refusal="load it into xgboost.XGBRanker()",
        ),
    ]


def lightgbm_cases() -> list[Case]:
    """LightGBM sklearn wrappers and native model files."""
    import lightgbm as lgb

    small = {"n_estimators": 20, "num_leaves": 8, "n_jobs": 1, "verbose": -1}
    forest = {**small, "boosting_type": "rf", "bagging_freq": 1, "bagging_fraction": 0.8}

    def booster(objective: str, kind: str) -> Callable[[Path], None]:
        def write(path: Path) -> None:
            features, target = _xy(kind)
            params: dict[str, Any] = {"objective": objective, "num_leaves": 8, "verbose": -1, "num_threads": 1}
            if objective == "multiclass":
                params["num_class"] = 3
            group = _groups(len(features)) if kind == "ranking" else None
            lgb.train(params, lgb.Dataset(features, target, group=group), num_boost_round=20).save_model(str(path))

        return write

    return [
        Case(
            "lightgbm-LGBMClassifier-binary",
            "lightgbm",
            _wrapper(lambda: lgb.LGBMClassifier(**small), "binary"),
            quick=True,
        ),
        Case(
            "lightgbm-LGBMClassifier-multiclass",
            "lightgbm",
            _wrapper(lambda: lgb.LGBMClassifier(**small), "multiclass"),
        ),
        Case("lightgbm-LGBMRegressor", "lightgbm", _wrapper(lambda: lgb.LGBMRegressor(**small), "regression")),
        Case("lightgbm-LGBMRanker", "lightgbm", _wrapper(lambda: lgb.LGBMRanker(**small), "ranking")),
        Case(
            "lightgbm-LGBMClassifier-rf",
            "lightgbm",
            _wrapper(lambda: lgb.LGBMClassifier(**forest), "multiclass"),
            refusal="boosting_type='rf'",
        ),
        Case(
            "lightgbm-LGBMRegressor-rf",
            "lightgbm",
            _wrapper(lambda: lgb.LGBMRegressor(**forest), "regression"),
            refusal="boosting_type='rf'",
        ),
        Case(
            "lightgbm-pipeline-scale-LGBMRegressor",
            "lightgbm",
            _wrapper(lambda: lgb.LGBMRegressor(**small), "regression", pipeline=True),
        ),
        Case("lightgbm-booster-txt-binary", "lightgbm", _saved(booster("binary", "binary"), "binary", ".txt")),
        Case(
            "lightgbm-booster-txt-multiclass",
            "lightgbm",
            _saved(booster("multiclass", "multiclass"), "multiclass", ".txt"),
        ),
        Case(
            "lightgbm-booster-txt-regression",
            "lightgbm",
            _saved(booster("regression", "regression"), "regression", ".txt"),
        ),
        Case(
            "lightgbm-booster-txt-lambdarank", "lightgbm", _saved(booster("lambdarank", "ranking"), "ranking", ".txt")
        ),
    ]


def catboost_cases() -> list[Case]:
    """CatBoost classifiers, regressors, a native .cbm file, and categorical features (refused)."""
    import catboost

    small = {"iterations": 30, "depth": 4, "verbose": False, "thread_count": 1, "random_seed": 0}

    def categorical() -> tuple[Any, Any]:
        table, target = frame("iris")
        model = catboost.CatBoostClassifier(**small)
        model.fit(table, target, cat_features=list(table.select_dtypes(exclude="number").columns))
        return model, table

    def cbm(path: Path) -> None:
        features, target = _xy("multiclass")
        catboost.CatBoostClassifier(**small).fit(features, target).save_model(str(path))

    return [
        Case(
            "catboost-CatBoostClassifier-binary",
            "catboost",
            _wrapper(lambda: catboost.CatBoostClassifier(**small), "binary"),
            quick=True,
        ),
        Case(
            "catboost-CatBoostClassifier-multiclass",
            "catboost",
            _wrapper(lambda: catboost.CatBoostClassifier(**small), "multiclass"),
        ),
        Case(
            "catboost-CatBoostRegressor",
            "catboost",
            _wrapper(lambda: catboost.CatBoostRegressor(**small), "regression"),
        ),
        Case("catboost-cbm-file-multiclass", "catboost", _saved(cbm, "multiclass", ".cbm")),
        Case("catboost-categorical-features", "catboost", categorical, refusal="does not support cat_features"),
    ]
