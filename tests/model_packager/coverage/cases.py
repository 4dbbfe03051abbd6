"""What a coverage case is, and the bundled scikit-learn data sets the cases are fitted on.

A case builds a fitted model and the sample a user would package it with. It either must
package, pass parity, serve and answer (``refusal is None``), or must be refused at once with
a short message containing ``refusal`` (a model that truly cannot be converted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

__all__ = ["Case", "dataset", "frame"]


@dataclass(frozen=True)
class Case:
    """One row of the matrix."""

    id: str
    family: str
    build: Callable[[], tuple[Any, Any]]
    """Returns (fitted model or saved-model path, sample)."""
    quick: bool = False
    """Part of the quick default set (one representative per family)."""
    refusal: str | None = None
    """Where the model cannot be converted: a phrase the refusal message must contain."""
    workaround: str | None = None
    """Upstream issue our converter layer works around for this case (URL)."""
    pending: str | None = None
    """A known failure outside the converter layer (expected to fail, not strictly), with the reason."""
    labels: tuple[str | int, ...] | None = None
    """For classifiers beyond scikit-learn: the labels the bundle must carry (task ``classifier``)."""
    framework: str | None = None
    package_kwargs: tuple[tuple[str, Any], ...] = ()


@cache
def dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A bundled scikit-learn data set (iris, wine, breast_cancer, digits, diabetes) as (X, y)."""
    from sklearn import datasets

    loader = getattr(datasets, f"load_{name}")
    features, target = loader(return_X_y=True)
    return np.asarray(features, dtype=np.float64), np.asarray(target)


@cache
def frame(name: str) -> tuple[Any, np.ndarray]:
    """A bundled data set as a DataFrame with two string columns derived from it (mixed numeric + text)."""
    import pandas as pd
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    table = bunch.frame.drop(columns=["target"]).copy()
    first, second = table.columns[:2]
    table[f"{first}_band"] = pd.cut(table[first], 3, labels=["low", "mid", "high"]).astype(str).astype(object)
    table[f"{second}_band"] = np.where(table[second] > table[second].median(), "above", "below").astype(object)
    return table, np.asarray(bunch.target)
