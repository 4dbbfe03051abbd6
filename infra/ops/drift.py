"""``maaskit drift``: compare the inputs captured on a stage with the bundle's reference statistics.

Captured records (:mod:`handlers.capture`, ``capture/<model>/<version>/...jsonl`` in the stage's capture
bucket, or SageMaker's ``capture/<model>/<endpoint>/<variant>/...jsonl``, see :mod:`infra.ops.capture_format`)
hold the request bodies. Their inputs are read back in the protocols' JSON shapes
(maaskit ``inputs``/``rows``, OIP ``inputs`` tensors, TF Serving ``instances``/``inputs``, OpenAI and
SageMaker ``input``/``inputs`` texts) and compared with :mod:`bundle.reference`:

- tabular: per feature, the population stability index (flagged at ``threshold``, 0.2 by default)
  and the missing rate (flagged when it moves by 0.1 or more);
- text: words-per-text PSI, the out-of-vocabulary rate (flagged when it moves by 0.1), and for
  embedding models the cosine distance between answer and reference centroids (flagged at 0.1).

:func:`publish` puts the largest PSI as ``DriftPSI`` (dimension ``model``), which the stack's alarm watches.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bundle.reference import (
    DRIFT_METRIC,
    Reference,
    centroid_distance,
    oov_rate,
    psi,
    words,
)
from infra.ops.aws import aws_errors
from infra.ops.capture_format import normalize
from infra.ops.errors import NotFoundError

__all__ = ["DriftReport", "FeatureDrift", "capture_bucket", "drift_report", "publish", "read_captured", "render_report"]

#: Changes of a rate (missing, out-of-vocabulary) and centroid distances that are flagged.
RATE_SHIFT = 0.1
CENTROID_SHIFT = 0.1
#: Input dtypes whose captured values are rounded to them before binning (see :func:`drift_report`).
_FLOAT_INPUTS = ("float16", "float32")


@dataclass(frozen=True)
class FeatureDrift:
    """One measure of one feature: ``value`` against ``reference``, flagged or not."""

    feature: str
    measure: str
    value: float
    reference: float
    flagged: bool


@dataclass
class DriftReport:
    """The comparison of ``records`` captured requests with a bundle's reference."""

    model: str
    version: str
    records: int
    threshold: float
    measures: list[FeatureDrift] = field(default_factory=list)

    @property
    def flagged(self) -> list[str]:
        """Features with at least one flagged measure."""
        return sorted({m.feature for m in self.measures if m.flagged})

    @property
    def max_psi(self) -> float:
        """The largest PSI of any feature (0 without one)."""
        return max((m.value for m in self.measures if m.measure == "psi"), default=0.0)


def _numbers(values: Iterable[Any]) -> np.ndarray:
    return np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _columns(request: Any, inputs: list[str]) -> dict[str, list[Any]]:
    """Feature columns (``name`` or ``name[i]``) of one request body; texts under ``text:<name>``."""
    out: dict[str, list[Any]] = {}
    single = inputs[0] if len(inputs) == 1 else None

    def add_rows(rows: list[Any], name: str | None) -> None:
        for row in rows:
            if isinstance(row, Mapping):
                for key, value in row.items():
                    add_value(str(key), value)
            elif isinstance(row, list) and name:
                for index, value in enumerate(row):
                    out.setdefault(f"{name}[{index}]", []).append(value)
            elif name:
                add_value(name, row)

    def add_value(name: str, value: Any) -> None:
        if isinstance(value, str):
            out.setdefault(f"text:{name}", []).append(value)
        elif isinstance(value, list) and value and isinstance(value[0], list):
            add_rows(value, name)
        elif isinstance(value, list):
            for item in value:
                add_value(name, item)
        else:
            out.setdefault(name, []).append(value)

    if not isinstance(request, Mapping):
        return out
    body_inputs = request.get("inputs")
    if isinstance(body_inputs, list) and body_inputs and isinstance(body_inputs[0], Mapping):  # OIP tensors
        for tensor in body_inputs:
            shape = tensor.get("shape") or [len(tensor.get("data", []))]
            data = np.asarray(tensor.get("data", []), dtype=object).reshape(shape) if len(shape) <= 2 else None
            if data is not None:
                add_value(str(tensor.get("name")), data.tolist())
    elif isinstance(body_inputs, Mapping):  # maaskit named inputs, TF Serving columnar
        for name, value in body_inputs.items():
            add_value(str(name), value)
    elif isinstance(body_inputs, (str, list)):  # SageMaker / Hugging Face toolkit texts
        add_value(single or "text", body_inputs)
    for key in ("rows", "instances"):
        if isinstance(request.get(key), list):
            add_rows(request[key], single)
    if isinstance(request.get("input"), (str, list)):  # OpenAI embeddings
        add_value(single or "text", request["input"])
    return out


def _embeddings(answer: Any) -> list[list[float]]:
    if isinstance(answer, Mapping) and isinstance(answer.get("data"), list):
        return [item["embedding"] for item in answer["data"] if isinstance(item, Mapping) and "embedding" in item]
    return []


def drift_report(
    reference: Reference,
    records: Sequence[Mapping[str, Any]],
    inputs: list[str],
    threshold: float = 0.2,
    vocabulary: set[str] | None = None,
    *,
    dtypes: Mapping[str, str] | None = None,
) -> DriftReport:
    """Compare captured ``records`` (capture-writer dicts) with ``reference``.

    ``inputs``: the model's input names (rows map to them); ``vocabulary``: the tokenizer's, for OOV rates;
    ``dtypes``: input name -> manifest dtype. Captured numbers are rounded to a float input's dtype, as the
    model receives them: the reference's bin edges come from the float32 samples, and a client's ``0.2`` sits
    below float32's ``0.2000000030`` edge, which would move every value tied at an edge into the bin below.
    """
    columns: dict[str, list[Any]] = {}
    embeddings: list[list[float]] = []
    for record in records:
        for name, values in _columns(record.get("request"), inputs).items():
            columns.setdefault(name, []).extend(values)
        embeddings.extend(_embeddings(record.get("answer")))
    report = DriftReport(reference.model, reference.version, len(records), threshold)
    for feature in reference.features:
        numbers = _numbers(columns.get(feature.name, []))
        if numbers.size == 0:
            continue
        dtype = (dtypes or {}).get(feature.name.split("[")[0])
        if dtype in _FLOAT_INPUTS:
            numbers = numbers.astype(dtype).astype(np.float64)
        value = psi(feature, numbers)
        report.measures.append(FeatureDrift(feature.name, "psi", value, 0.0, value >= threshold))
        missing = float(np.isnan(numbers).mean())
        report.measures.append(
            FeatureDrift(
                feature.name,
                "missing_rate",
                missing,
                feature.missing_rate,
                abs(missing - feature.missing_rate) >= RATE_SHIFT,
            )
        )
    for text in reference.texts:
        texts = [str(t) for t in columns.get(f"text:{text.name}", []) or columns.get("text:text", [])]
        if not texts:
            continue
        value = psi(text.length, [len(words(t)) for t in texts])
        report.measures.append(FeatureDrift(text.length.name, "psi", value, 0.0, value >= threshold))
        if vocabulary is not None:
            rate = oov_rate(texts, vocabulary)
            report.measures.append(
                FeatureDrift(text.name, "oov_rate", rate, text.oov_rate, abs(rate - text.oov_rate) >= RATE_SHIFT)
            )
        if text.centroid is not None and embeddings:
            distance = centroid_distance(text.centroid, np.asarray(embeddings))
            report.measures.append(
                FeatureDrift(text.name, "centroid_distance", distance, 0.0, distance >= CENTROID_SHIFT)
            )
    return report


def capture_bucket(session: Any, stage: str, bucket: str | None = None) -> str:
    """The capture bucket: ``bucket`` > SSM ``/maaskit/<stage>/capture-bucket`` (written by the CDK app)."""
    if bucket:
        return bucket
    name = f"/maaskit/{stage}/capture-bucket"
    with aws_errors(
        f"reading SSM parameter {name}",
        not_found=lambda code: (
            f"SSM parameter {name} not found: deploy the stage with capture on, or pass --bucket"
            if code == "ParameterNotFound"
            else ""
        ),
    ):
        return str(session.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])


def read_captured(
    session: Any, bucket: str, model: str, version: str | None = None, limit: int = 10_000
) -> list[dict[str, Any]]:
    """The newest captured records of ``model`` (at most ``limit``), optionally of one version (a Lambda model's
    capture writer files them by version; SageMaker's capture by endpoint and variant, read with ``version=None``).
    Both writers' lines come back in the capture writer's shape (:func:`infra.ops.capture_format.normalize`)."""
    client = session.client("s3")
    prefix = f"capture/{model}/" + (f"{version}/" if version else "")
    objects: list[dict[str, Any]] = []
    with aws_errors(f"listing s3://{bucket}/{prefix}"):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            objects.extend(page.get("Contents", []))
    if not objects:
        raise NotFoundError(
            f"no captured requests under s3://{bucket}/{prefix}; is capture on for {model} "
            "(endpoints[].capture in the deploy file) and has it had traffic?"
        )
    records: list[dict[str, Any]] = []
    for item in sorted(objects, key=lambda o: o["Key"], reverse=True):
        with aws_errors(f"reading s3://{bucket}/{item['Key']}"):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        records.extend(normalize(json.loads(line)) for line in body.splitlines() if line.strip())
        if len(records) >= limit:
            break
    return records[:limit]


def publish(session: Any, report: DriftReport, namespace: str = "maaskit") -> None:
    """Put the report's largest PSI as ``DriftPSI`` (dimension ``model``), which the drift alarm watches."""
    with aws_errors("publishing the drift metric"):
        session.client("cloudwatch").put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": DRIFT_METRIC,
                    "Dimensions": [{"Name": "model", "Value": report.model}],
                    "Value": report.max_psi,
                    "Unit": "None",
                }
            ],
        )


def render_report(report: DriftReport) -> str:
    """The table ``maaskit drift`` prints."""
    lines = [
        f"drift of {report.model} {report.version}: {report.records} captured requests, "
        f"PSI threshold {report.threshold:g}",
        f"{'feature':<24} {'measure':<18} {'value':>9} {'reference':>9}  flag",
    ]
    for m in report.measures:
        flag = "DRIFT" if m.flagged else ""
        lines.append(f"{m.feature:<24} {m.measure:<18} {m.value:>9.4f} {m.reference:>9.4f}  {flag}".rstrip())
    lines.append(f"drifted: {', '.join(report.flagged)}" if report.flagged else "no drift flagged")
    return "\n".join(lines) + "\n"
