"""``maaskit usage``: requests and units per consumer and model, from the metering metrics in CloudWatch.

The runtime writes them as embedded-metric-format fields (:mod:`handlers.metering`): namespace
``maaskit``, dimensions ``stage``, ``consumer``, ``model``; metrics ``Requests``, ``PromptTokens``,
``CompletionTokens``, ``AudioSeconds``. This module finds the stage's series (``ListMetrics``) and
sums each over the window (``GetMetricData``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

from bundle.reference import METERING_DIMENSIONS, METERING_METRICS
from infra.ops.aws import aws_errors
from infra.ops.errors import RefusedError

__all__ = ["UsageRow", "parse_since", "read_usage", "render_usage"]

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class UsageRow:
    """One consumer's use of one model over the window."""

    consumer: str
    model: str
    requests: float
    prompt_tokens: float
    completion_tokens: float
    audio_seconds: float


def parse_since(since: str) -> dt.timedelta:
    """``30m``, ``24h``, ``7d``, ``2w`` -> a timedelta (at most 455 days, CloudWatch's retention)."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", since)
    if not match or int(match[1]) == 0:
        raise RefusedError(f"--since {since!r}: use a number and a unit, e.g. 30m, 24h, 7d or 2w")
    seconds = int(match[1]) * _UNITS[match[2]]
    if seconds > 455 * 86400:
        raise RefusedError(f"--since {since!r} is longer than CloudWatch keeps metrics (455 days)")
    return dt.timedelta(seconds=seconds)


def _series(client: Any, namespace: str, stage: str, consumer: str | None) -> list[tuple[str, str]]:
    wanted = [{"Name": "stage", "Value": stage}] + ([{"Name": "consumer", "Value": consumer}] if consumer else [])
    pairs: set[tuple[str, str]] = set()
    with aws_errors("listing the metering metrics"):
        for page in client.get_paginator("list_metrics").paginate(
            Namespace=namespace, MetricName="Requests", Dimensions=wanted
        ):
            for metric in page.get("Metrics", []):
                dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                wanted_consumer = consumer is None or dims.get("consumer") == consumer
                if set(dims) == set(METERING_DIMENSIONS) and dims["stage"] == stage and wanted_consumer:
                    pairs.add((dims["consumer"], dims["model"]))
    return sorted(pairs)


def read_usage(
    session: Any,
    stage: str,
    *,
    consumer: str | None = None,
    since: str = "7d",
    namespace: str = "maaskit",
    now: dt.datetime | None = None,
) -> list[UsageRow]:
    """Per consumer and model, the sums of the metering metrics over the last ``since``."""
    window = parse_since(since)
    end = (now or dt.datetime.now(dt.UTC)) + dt.timedelta(minutes=1)
    start = end - window - dt.timedelta(minutes=1)
    period = max(60, math.ceil((end - start).total_seconds() / 60) * 60)
    client = session.client("cloudwatch")
    pairs = _series(client, namespace, stage, consumer)
    queries = []
    for index, (who, model) in enumerate(pairs):
        dimensions = [
            {"Name": "stage", "Value": stage},
            {"Name": "consumer", "Value": who},
            {"Name": "model", "Value": model},
        ]
        for metric in METERING_METRICS:
            queries.append(
                {
                    "Id": f"m{index}_{metric.lower()}",
                    "MetricStat": {
                        "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions},
                        "Period": period,
                        "Stat": "Sum",
                    },
                }
            )
    sums: dict[str, float] = {}
    with aws_errors("reading the metering metrics"):
        for offset in range(0, len(queries), 500):  # GetMetricData takes 500 queries per call
            chunk = queries[offset : offset + 500]
            for page in client.get_paginator("get_metric_data").paginate(
                MetricDataQueries=chunk, StartTime=start, EndTime=end
            ):
                for result in page.get("MetricDataResults", []):
                    sums[result["Id"]] = sums.get(result["Id"], 0.0) + float(sum(result.get("Values", [])))
    rows = []
    for index, (who, model) in enumerate(pairs):
        value = [sums.get(f"m{index}_{metric.lower()}", 0.0) for metric in METERING_METRICS]
        rows.append(UsageRow(who, model, *value))
    return rows


def render_usage(rows: list[UsageRow], stage: str, since: str) -> str:
    """The table ``maaskit usage`` prints."""
    if not rows:
        return f"no metered requests on stage {stage} in the last {since}\n"
    header = ("consumer", "model", "requests", "prompt tokens", "completion tokens", "audio s")
    body = [
        (
            r.consumer,
            r.model,
            f"{r.requests:,.0f}",
            f"{r.prompt_tokens:,.0f}",
            f"{r.completion_tokens:,.0f}",
            f"{r.audio_seconds:,.1f}",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]
    lines = [f"usage on stage {stage}, last {since}"]
    for row in (header, *body):
        cells = [cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"
