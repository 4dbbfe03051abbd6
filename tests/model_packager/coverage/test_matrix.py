"""The coverage matrix: every case packages, passes parity, serves and answers, or is refused at once in
a few lines naming the estimator. The quick set (one per family) runs by default; the rest is ``slow``."""

from __future__ import annotations

import pytest

from tests.model_packager.coverage.matrix import all_cases
from tests.model_packager.coverage.runner import run_case

_CASES = all_cases()


def _param(case):
    marks = [] if case.quick else [pytest.mark.slow]
    if case.pending:
        marks.append(pytest.mark.xfail(reason=case.pending, strict=False))
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(case) for case in _CASES])
def test_case(case, tmp_path):
    outcome = run_case(case, tmp_path)
    if case.refusal is None:
        assert outcome.status == "passed", outcome.message
        if case.labels is not None:
            assert outcome.task == "classifier" and outcome.labels == list(case.labels)
        return
    assert outcome.status == "refused", f"expected a refusal containing {case.refusal!r}"
    assert case.refusal in outcome.message
    assert len(outcome.message.splitlines()) <= 3 and len(outcome.message) < 600, outcome.message
    assert outcome.seconds < 5, "a refusal comes before conversion, at once"
    assert not any(tmp_path.iterdir()), "nothing is written for a refused model"


def test_every_supported_estimator_has_a_case():
    from tests.model_packager.coverage.sklearn_cases import supported_estimators

    ids = " ".join(case.id for case in _CASES)
    missing = [
        klass.__name__
        for klass in supported_estimators()
        if klass.__name__ not in {"Pipeline", "ColumnTransformer", "FeatureUnion"}
        and f"sklearn-{klass.__name__}" not in ids
    ]
    assert not missing
    assert sum(case.quick for case in _CASES) <= 12
