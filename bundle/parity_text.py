"""Parity metrics for text bundles, called by the bundle's parity rule for text tasks.

* ``feature-extraction``: per-text cosine similarity between the bundle's and the original's
  embedding (``min_cosine``: the worst text, against ``TextTolerances.min_cosine``), and the
  ranking of a small retrieval set (``ranking_agreement``: every sample text is a query against all
  the others; the share of (query, rank) places, top-k, where the bundle puts the original's
  neighbour, against ``min_ranking_agreement``). Two neighbours whose similarities to the query
  differ by at most ``tie_margin`` in the ORIGINAL embeddings are a tie, and a tie may come out in
  either order. Absolute differences are checked as well by the generic element-wise rule.
* ``text-classification`` / ``token-classification``: ``classifier_views`` turns outputs into what
  the generic rule compares: the argmax label (``label_agreement``) and scores on real tokens only
  (padding positions carry no prediction).

:func:`reproduces_text` is the text form of :func:`bundle.parity.reproduces` (which it calls for the
element-wise and agreement checks): the packager's gate uses it, and :func:`bundle.judge.judge` (``verify``,
warm-up, the deploy-time check, the pre-traffic hook) uses it on text bundles.

Only numpy: this module ships in every runtime artifact.
"""

from __future__ import annotations

import numpy as np

from bundle.manifest import ParityCheck, ParityReport
from bundle.parity import Tolerances, reproduces
from bundle.tolerances import DEFAULT_TEXT_TOLERANCES, INT8_TEXT_TOLERANCES, INT8_TIE_MARGIN, TextTolerances

__all__ = [
    "DEFAULT_TEXT_TOLERANCES",
    "INT8_TEXT_TOLERANCES",
    "INT8_TIE_MARGIN",
    "LABEL_VIEW",
    "TextTolerances",
    "classifier_views",
    "cosine_per_row",
    "embedding_checks",
    "ranking_agreement",
    "reproduces_text",
    "text_tolerances_from_report",
]

#: Name of the derived output holding the argmax label of the scores.
LABEL_VIEW = "scores.argmax"


def text_tolerances_from_report(report: ParityReport, default: TextTolerances | None = None) -> TextTolerances:
    """The text tolerances a recorded report was measured against (defaults for metrics it lacks)."""
    base = default or DEFAULT_TEXT_TOLERANCES
    found = {check.metric: check for check in report.checks}
    cosine, ranking = found.get("min_cosine"), found.get("ranking_agreement")
    return TextTolerances(
        min_cosine=cosine.tolerance if cosine else base.min_cosine,
        min_ranking_agreement=ranking.tolerance if ranking else base.min_ranking_agreement,
        top_k=ranking.top_k if ranking and ranking.top_k is not None else base.top_k,
        tie_margin=ranking.tie_margin if ranking and ranking.tie_margin is not None else base.tie_margin,
    )


def cosine_per_row(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row pair (1.0 where both rows are zero)."""
    a = np.asarray(actual, dtype=np.float64).reshape(len(actual), -1)
    e = np.asarray(expected, dtype=np.float64).reshape(len(expected), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(e, axis=1)
    dots = np.sum(a * e, axis=1)
    both_zero = (np.linalg.norm(a, axis=1) == 0) & (np.linalg.norm(e, axis=1) == 0)
    cosine = np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)
    return np.asarray(np.where(both_zero, 1.0, cosine))


def _similarities(embeddings: np.ndarray) -> np.ndarray:
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return np.asarray(similarity)


def ranking_agreement(
    actual: np.ndarray, expected: np.ndarray, top_k: int = 3, tie_margin: float = 0.0
) -> tuple[float, str | None]:
    """Share of (query, rank) places where the bundle ranks the original's neighbour (or one tied with it)."""
    rows = len(expected)
    k = min(top_k, rows - 1)
    if k < 1:
        return 1.0, None
    original = _similarities(np.asarray(expected, dtype=np.float64).reshape(rows, -1))
    e = np.argsort(-original, axis=1, kind="stable")[:, :k]
    a = np.argsort(-_similarities(np.asarray(actual, dtype=np.float64).reshape(rows, -1)), axis=1, kind="stable")[:, :k]
    queries = np.arange(rows)[:, None]
    tied = np.abs(original[queries, a] - original[queries, e]) <= tie_margin
    same = (a == e) | tied
    if same.all():
        return 1.0, None
    query, rank = (int(i) for i in np.argwhere(~same)[0])
    return float(same.mean()), (
        f"query text {query}: neighbour {rank + 1} is text {int(a[query, rank])} for the bundle but text "
        f"{int(e[query, rank])} for the original (original similarities {original[query, a[query, rank]]:.4f} "
        f"and {original[query, e[query, rank]]:.4f})"
    )


def embedding_checks(
    name: str, actual: np.ndarray, expected: np.ndarray, tolerances: TextTolerances
) -> tuple[list[ParityCheck], list[str]]:
    """``min_cosine`` and ``ranking_agreement`` checks of one embedding output, with failure messages."""
    cosine = cosine_per_row(actual, expected)
    worst = int(np.argmin(cosine)) if cosine.size else 0
    min_cos = float(cosine[worst]) if cosine.size else 1.0
    agreement, first_difference = ranking_agreement(actual, expected, tolerances.top_k, tolerances.tie_margin)
    checks = [
        ParityCheck(
            output=name,
            metric="min_cosine",
            tolerance=tolerances.min_cosine,
            measured=min_cos,
            passed=min_cos >= tolerances.min_cosine,
        ),
        ParityCheck(
            output=name,
            metric="ranking_agreement",
            tolerance=tolerances.min_ranking_agreement,
            measured=agreement,
            passed=agreement >= tolerances.min_ranking_agreement,
            top_k=tolerances.top_k,
            tie_margin=tolerances.tie_margin,
        ),
    ]
    failures = []
    if not checks[0].passed:
        failures.append(f"output {name!r}: cosine {min_cos:.6f} < {tolerances.min_cosine} on text {worst}")
    if not checks[1].passed:
        failures.append(
            f"output {name!r}: retrieval ranking agreement {agreement:.4f} < {tolerances.min_ranking_agreement} "
            f"(top-{tolerances.top_k}); {first_difference}"
        )
    return checks, failures


def classifier_views(task: str, outputs: dict[str, np.ndarray], attention_mask: np.ndarray) -> dict[str, np.ndarray]:
    """Outputs as the generic rule compares them: real tokens only (token-classification) plus the argmax label."""
    if task == "token-classification":
        real = np.asarray(attention_mask).astype(bool)
        views = {name: np.asarray(value)[real] for name, value in outputs.items() if np.ndim(value) == 3}
    else:
        views = {name: np.asarray(value) for name, value in outputs.items()}
    if "scores" in views:
        views[LABEL_VIEW] = np.argmax(views["scores"], axis=-1)
    return views


def reproduces_text(
    task: str,
    actual: dict[str, np.ndarray],
    expected: dict[str, np.ndarray],
    *,
    attention_mask: np.ndarray,
    tolerances: Tolerances,
    text_tolerances: TextTolerances,
) -> tuple[ParityReport, list[str]]:
    """Do a text model's outputs reproduce the samples? The report and one message per failing check.

    ``attention_mask`` is the encoder's mask for the sample texts (real tokens 1).
    """
    if task == "feature-extraction":
        report, failures = reproduces(actual, expected, tolerances)
        checks = list(report.checks)
        for name, want in expected.items():
            if name in actual and np.shape(actual[name]) == np.shape(want):
                extra, extra_failures = embedding_checks(name, actual[name], want, text_tolerances)
                checks += extra
                failures += extra_failures
    else:
        report, failures = reproduces(
            classifier_views(task, actual, attention_mask),
            classifier_views(task, expected, attention_mask),
            tolerances,
            LABEL_VIEW,
        )
        checks = list(report.checks)
    count = int(np.shape(attention_mask)[0])
    return ParityReport(sample_count=count, passed=not failures, checks=checks), failures
