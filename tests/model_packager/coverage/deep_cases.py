"""PyTorch and Keras cases: classifier heads (softmax/sigmoid -> classifier bundles with labels), modules
returning tuples or dicts and taking keyword inputs, Keras functional models with several inputs and
outputs, and subclassed Keras models. Weights are random (seeded): conversion does not depend on training."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from tests.model_packager.coverage.cases import Case, dataset

__all__ = ["keras_cases", "torch_cases"]

IRIS_SPECIES = ("setosa", "versicolor", "virginica")


def _rows(name: str, count: int = 40) -> np.ndarray:
    features, _ = dataset(name)
    scaled = (features - features.mean(axis=0)) / features.std(axis=0)
    return scaled[:: max(1, len(features) // count)].astype(np.float32)


def torch_cases() -> list[Case]:
    """nn.Modules users write."""
    import torch
    from torch import nn

    class Species(nn.Module):
        """A softmax classifier that knows its class names."""

        def __init__(self) -> None:
            super().__init__()
            self.labels = list(IRIS_SPECIES)
            self.body = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3), nn.Softmax(dim=1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x)

    class TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.trunk = nn.Linear(10, 8)
            self.score, self.embed = nn.Linear(8, 1), nn.Linear(8, 4)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            hidden = torch.relu(self.trunk(x))
            return self.score(hidden), self.embed(hidden)

    class Named(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mean, self.spread = nn.Linear(13, 2), nn.Linear(13, 2)

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"mean": self.mean(x), "spread": nn.functional.softplus(self.spread(x))}

    class Masked(nn.Module):
        """Takes its inputs by keyword: features and a per-feature weight."""

        def __init__(self) -> None:
            super().__init__()
            self.out = nn.Linear(30, 1)

        def forward(self, features: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
            return self.out(features * weights if weights is not None else features)

    def seeded(klass: type) -> Any:
        torch.manual_seed(0)
        return klass().eval()

    def binary() -> Any:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(30, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid()).eval()

    cancer = _rows("breast_cancer")
    return [
        Case(
            "torch-softmax-classifier-labels-from-model", "torch", lambda: (seeded(Species), _rows("iris")), quick=True
        ),
        Case(
            "torch-sigmoid-classifier-labels-option",
            "torch",
            lambda: (binary(), cancer),
            package_kwargs=(("labels", ["benign", "malignant"]),),
            labels=("benign", "malignant"),
        ),
        Case("torch-tuple-outputs", "torch", lambda: (seeded(TwoHeads), _rows("diabetes"))),
        Case("torch-dict-outputs", "torch", lambda: (seeded(Named), _rows("wine"))),
        Case(
            "torch-keyword-inputs",
            "torch",
            lambda: (seeded(Masked), {"features": cancer, "weights": np.ones_like(cancer)}),
        ),
    ]


def keras_cases() -> list[Case]:
    """Keras 3 models: Sequential classifier, functional multi-input/multi-output, subclassed."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    def sequential() -> tuple[Any, Any]:
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input(shape=(4,)),
                keras.layers.Dense(8, activation="relu"),
                keras.layers.Dense(3, activation="softmax"),
            ]
        )
        return model, _rows("iris")

    def functional() -> tuple[Any, Any]:
        keras.utils.set_random_seed(0)
        numbers = keras.Input(shape=(10,), name="numbers")
        extra = keras.Input(shape=(3,), name="extra")
        hidden = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()([numbers, extra]))
        value = keras.layers.Dense(1, name="value")(hidden)
        kind = keras.layers.Dense(2, activation="softmax", name="kind")(hidden)
        model = keras.Model(inputs=[numbers, extra], outputs=[value, kind])
        rows = _rows("diabetes")
        return model, {"numbers": rows, "extra": rows[:, :3]}

    class Residual(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.inner = keras.layers.Dense(13, activation="tanh")
            self.head = keras.layers.Dense(1)

        def call(self, inputs: Any) -> Any:
            return self.head(inputs + self.inner(inputs))

    def subclassed() -> tuple[Any, Any]:
        keras.utils.set_random_seed(0)
        model = Residual()
        rows = _rows("wine")
        model(rows[:2])  # build it
        return model, rows

    return [
        Case("keras-sequential-softmax-classifier", "keras", sequential, quick=True, labels=(0, 1, 2)),
        Case("keras-functional-two-inputs-two-outputs", "keras", functional),
        Case("keras-subclassed-model", "keras", subclassed),
    ]
