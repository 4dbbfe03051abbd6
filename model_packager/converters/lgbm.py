"""LightGBM: native boosters (``.txt`` model files, ``Booster`` objects) and sklearn wrappers.

Native boosters are converted with onnxmltools (opset 15, zipmap off).
``LGBMClassifier``/``LGBMRegressor`` objects, alone or inside a Pipeline, go
through skl2onnx with onnxmltools' converter registered (opsets 17 / ml 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx

from model_packager.converters.base import ModelLoadError, require
from model_packager.converters.native_trees import BoosterConverter, ObjectiveKind, dynamic_batch_outputs
from model_packager.loaders import head

__all__ = ["NATIVE_OPSET", "LightGBMConverter"]

#: Newest default-domain opset onnxmltools' LightGBM converter supports.
NATIVE_OPSET = 15


class LightGBMConverter(BoosterConverter):
    """LightGBM boosters and sklearn wrappers."""

    name = "lightgbm"
    extra = "lightgbm"
    library = "lightgbm"
    handles = "LightGBM Boosters (.txt model files or objects) and LGBMClassifier/LGBMRegressor (alone or in Pipelines)"

    def can_load(self, path: Path) -> bool:
        """A file that starts like LightGBM's text model format (``tree`` then ``version=``), any suffix."""
        start = head(path, 64)
        return path.is_file() and start.startswith(b"tree") and b"version=" in start

    def load(self, path: Path) -> object:
        """Load a native model file."""
        lightgbm: Any = require("lightgbm", self.extra)
        try:
            return lightgbm.Booster(model_file=str(path))
        except lightgbm.basic.LightGBMError as exc:
            raise ModelLoadError(f"{path.name} is not a readable LightGBM model ({exc}); save it again") from None

    def width(self, booster: Any) -> int:
        """Number of features the booster was trained on."""
        return int(booster.num_feature())

    def objective(self, booster: Any) -> tuple[str, ObjectiveKind]:
        """From the model dump (e.g. ``multiclass num_class:3``)."""
        objective = str(booster.dump_model(num_iteration=0).get("objective", "regression"))
        if objective.startswith(("binary", "cross_entropy")):
            return objective, "binary"
        if objective.startswith(("multiclass", "softmax")):
            return objective, "multiclass"
        return objective, "regression"

    def to_onnx(self, onnxmltools: Any, booster: Any, initial_types: list[tuple[str, Any]]) -> onnx.ModelProto:
        """onnxmltools' LightGBM converter; its fixed batch axis of 1 on outputs is made dynamic."""
        model: onnx.ModelProto = onnxmltools.convert_lightgbm(
            booster, initial_types=initial_types, target_opset=NATIVE_OPSET, zipmap=False
        )
        dynamic_batch_outputs(model)
        return model

    def predict(self, library: Any, booster: Any, features: np.ndarray, objective: str) -> np.ndarray:
        """Probabilities (classifiers) or values (regressors)."""
        return np.asarray(booster.predict(features))
