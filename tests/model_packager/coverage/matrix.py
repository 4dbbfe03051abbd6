"""All coverage cases, framework by framework (frameworks not installed contribute none)."""

from __future__ import annotations

import importlib
import importlib.util

from tests.model_packager.coverage.cases import Case

__all__ = ["all_cases"]


def all_cases() -> list[Case]:
    """Every case of the matrix, in report order."""
    from tests.model_packager.coverage.sklearn_cases import sklearn_cases

    cases = sklearn_cases()
    for module, factory in (
        ("xgboost", "tests.model_packager.coverage.boosting_cases:xgboost_cases"),
        ("lightgbm", "tests.model_packager.coverage.boosting_cases:lightgbm_cases"),
        ("catboost", "tests.model_packager.coverage.boosting_cases:catboost_cases"),
        ("torch", "tests.model_packager.coverage.deep_cases:torch_cases"),
        ("tensorflow", "tests.model_packager.coverage.deep_cases:keras_cases"),
    ):
        if importlib.util.find_spec(module) is None:
            continue
        path, _, name = factory.partition(":")
        try:
            cases += getattr(importlib.import_module(path), name)()
        except ModuleNotFoundError:
            continue
    return cases
