"""The scheduled drift check (an EventBridge rule invokes it): every captured model, compared and published.

Runs in Lambda from the asset :mod:`infra.drift_asset` stages: ``drift_models.json`` lists each captured
model (the version a Lambda model's capture writer files under, ``null`` for SageMaker's capture, its input
names and PSI threshold) with its reference statistics and tokenizer vocabulary, computed from the deployed
bundle at synthesis, so the function reads only the capture prefix and writes only the metric. Each model's
largest PSI goes out as ``DriftPSI`` (the model's drift alarm watches it); a model without captured traffic
yet publishes nothing (the alarm treats missing data as fine). One JSON log line per model.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from bundle.names import CAPTURE_BUCKET
from bundle.reference import Reference
from infra.names import DRIFT_MODELS_FILE, DRIFT_NAMESPACE_ENV, DRIFT_RECORDS_ENV
from infra.ops.drift import drift_report, publish, read_captured
from infra.ops.errors import NotFoundError

__all__ = ["check_all", "handler"]

#: The asset's root (this file is ``infra/ops/drift_job.py`` in it).
ASSET_ROOT = Path(__file__).resolve().parents[2]


def check_all(
    session: Any, root: Path, bucket: str, namespace: str = "maaskit", limit: int = 10_000
) -> list[dict[str, Any]]:
    """Compare and publish every model of ``root/drift_models.json``; one summary per model."""
    models = json.loads((root / DRIFT_MODELS_FILE).read_text(encoding="utf-8"))["models"]
    summaries: list[dict[str, Any]] = []
    for entry in models:
        name = entry["model"]
        reference = Reference.from_json((root / entry["reference"]).read_text(encoding="utf-8"))
        vocabulary = None
        if entry.get("vocabulary"):
            vocabulary = set((root / entry["vocabulary"]).read_text(encoding="utf-8").splitlines())
        try:
            records = read_captured(session, bucket, name, entry.get("version"), limit)
        except NotFoundError as exc:
            summaries.append({"model": name, "records": 0, "published": False, "note": str(exc)})
            continue
        report = drift_report(
            reference, records, entry["inputs"], entry["threshold"], vocabulary, dtypes=entry.get("dtypes")
        )
        publish(session, report, namespace)
        summaries.append(
            {
                "model": name,
                "version": report.version,
                "records": report.records,
                "max_psi": report.max_psi,
                "flagged": report.flagged,
                "published": True,
            }
        )
    return summaries


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge's scheduled event in, the per-model summaries out (also logged, one JSON line each)."""
    import boto3

    summaries = check_all(
        boto3.session.Session(),
        ASSET_ROOT,
        os.environ[CAPTURE_BUCKET],
        os.environ.get(DRIFT_NAMESPACE_ENV, "maaskit"),
        int(os.environ.get(DRIFT_RECORDS_ENV, "10000")),
    )
    for summary in summaries:
        sys.stdout.write(json.dumps({"drift": summary}) + "\n")
    return {"models": summaries}
