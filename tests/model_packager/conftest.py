"""Shared models and samples for the packager tests (trained once per session, small and fast)."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


@pytest.fixture(scope="session")
def iris() -> tuple[np.ndarray, np.ndarray]:
    features, target = load_iris(return_X_y=True)
    return features, target


@pytest.fixture(scope="session")
def iris_pipeline(iris):
    features, target = iris
    return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))]).fit(features, target)


@pytest.fixture(scope="session")
def iris_file(iris_pipeline, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "iris.joblib"
    joblib.dump(iris_pipeline, path)
    return path


@pytest.fixture(scope="session")
def mixed_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = 300
    return pd.DataFrame(
        {
            "age": rng.normal(40, 12, rows).round(1),
            "visits": rng.integers(0, 20, rows),
            "plan": rng.choice(["basic", "pro", "team"], rows),
            "region": rng.choice(["eu", "us", "apac"], rows),
        }
    )


@pytest.fixture(scope="session")
def mixed_pipeline(mixed_frame):
    """A ColumnTransformer mixing numeric and string columns in front of a forest, string labels."""
    target = np.where((mixed_frame["age"] > 40) ^ (mixed_frame["plan"] == "pro"), "churn", "stay")
    columns = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "visits"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
        ]
    )
    model = Pipeline([("pre", columns), ("clf", RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0))])
    return model.fit(mixed_frame, target)


@pytest.fixture(scope="session")
def ridge(iris):
    features, _ = iris
    return Ridge().fit(features[:, 1:], features[:, 0])
