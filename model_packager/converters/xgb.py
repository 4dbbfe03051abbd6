"""XGBoost: native boosters (``.json``/``.ubj`` files, ``Booster`` objects) and sklearn wrappers.

Native boosters are converted with onnxmltools (opset 15, its newest supported).
``XGBClassifier``/``XGBRegressor`` objects, alone or inside a Pipeline, go
through skl2onnx with onnxmltools' converter registered (opsets 17 / ml 3).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from model_packager.converters.base import ModelLoadError, UnsupportedModelError, require
from model_packager.converters.native_trees import BoosterConverter, ObjectiveKind
from model_packager.loaders import head

__all__ = ["NATIVE_OPSET", "XGBoostConverter"]

#: Newest default-domain opset onnxmltools' XGBoost converter supports.
NATIVE_OPSET = 15


class XGBoostConverter(BoosterConverter):
    """XGBoost boosters and sklearn wrappers."""

    name = "xgboost"
    extra = "xgboost"
    library = "xgboost"
    handles = "XGBoost Boosters (.json/.ubj files or objects) and XGBClassifier/XGBRegressor (alone or in Pipelines)"
    suffixes = (".json", ".ubj")

    def can_load(self, path: Path) -> bool:
        """A ``.json``/``.ubj`` file whose first bytes hold XGBoost's ``learner`` key."""
        return super().can_load(path) and b"learner" in head(path, 64)

    def load(self, path: Path) -> object:
        """Load a native booster file."""
        xgboost: Any = require("xgboost", self.extra)
        try:
            return xgboost.Booster(model_file=str(path))
        except xgboost.core.XGBoostError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
            raise ModelLoadError(f"{path.name} is not a readable XGBoost model ({first}); save it again") from None

    def width(self, booster: Any) -> int:
        """Number of features the booster was trained on."""
        return int(booster.num_features())

    def objective(self, booster: Any) -> tuple[str, ObjectiveKind]:
        """From the booster's saved configuration."""
        objective = str(json.loads(booster.save_config())["learner"]["objective"]["name"])
        if objective.startswith("binary:logistic"):
            return objective, "binary"
        if objective in {"multi:softprob", "multi:softmax"}:
            return objective, "multiclass"
        if objective.startswith("rank:"):
            raise UnsupportedModelError(
                f"a native XGBoost booster with objective {objective} cannot be packaged: onnxmltools converts "
                "it as a classifier. Instead: load it into xgboost.XGBRanker() with load_model(path) and package that"
            )
        return objective, "regression"

    def to_onnx(self, onnxmltools: Any, booster: Any, initial_types: list[tuple[str, Any]]) -> onnx.ModelProto:
        """onnxmltools' XGBoost converter."""
        model: onnx.ModelProto = onnxmltools.convert_xgboost(
            booster, initial_types=initial_types, target_opset=NATIVE_OPSET
        )
        return model

    def predict(self, library: Any, booster: Any, features: np.ndarray, objective: str) -> np.ndarray:
        """Class probabilities (softmax of the margins for ``multi:softmax``) or values."""
        matrix = library.DMatrix(features, feature_names=booster.feature_names)
        if objective != "multi:softmax":
            return np.asarray(booster.predict(matrix))
        margins = np.asarray(booster.predict(matrix, output_margin=True), dtype=np.float64)
        exp = np.exp(margins - margins.max(axis=1, keepdims=True))
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))
