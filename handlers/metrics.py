"""Per-model-version request metrics: Prometheus text exposition and CloudWatch embedded metric format."""

from __future__ import annotations

import time
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

__all__ = ["BUCKETS_MS", "Metrics", "VersionStats", "emf_fields"]

#: Latency histogram bucket upper bounds in milliseconds.
BUCKETS_MS = (0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 10000.0)
_Key = tuple[str, str, str]


class _Series:
    __slots__ = ("buckets", "count", "errors_4xx", "errors_5xx", "total_ms")

    def __init__(self) -> None:
        self.buckets = [0] * (len(BUCKETS_MS) + 1)
        self.count = 0
        self.errors_4xx = 0
        self.errors_5xx = 0
        self.total_ms = 0.0


@dataclass(frozen=True)
class VersionStats:
    """One model version's traffic since the server started, over every protocol."""

    model: str
    version: str
    requests: int
    errors_4xx: int
    errors_5xx: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    per_second: float


def _quantile_ms(buckets: list[int], count: int, q: float) -> float:
    """Upper bound of the histogram bucket holding quantile ``q`` (the last finite bound above the top)."""
    rank, seen = q * count, 0
    for bound, n in zip(BUCKETS_MS, buckets, strict=False):
        seen += n
        if seen >= rank:
            return bound
    return BUCKETS_MS[-1]


class Metrics:
    """Request counts, error counts and latency histograms keyed by (model, version, protocol)."""

    def __init__(self) -> None:
        self._series: dict[_Key, _Series] = {}
        self.started = time.time()

    def observe(self, model: str, version: str, protocol: str, status: int, latency_ms: float) -> None:
        """Record one request."""
        key = (model, version, protocol)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series()
        series.count += 1
        series.total_ms += latency_ms
        series.buckets[bisect_left(BUCKETS_MS, latency_ms)] += 1
        if status >= 500:
            series.errors_5xx += 1
        elif status >= 400:
            series.errors_4xx += 1

    def version_stats(self) -> list[VersionStats]:
        """Per model version: requests, errors, mean and bucketed p50/p95 latency, requests per second."""
        merged: dict[tuple[str, str], _Series] = {}
        for (model, version, _protocol), series in self._series.items():
            total = merged.setdefault((model, version), _Series())
            total.count += series.count
            total.total_ms += series.total_ms
            total.errors_4xx += series.errors_4xx
            total.errors_5xx += series.errors_5xx
            total.buckets = [a + b for a, b in zip(total.buckets, series.buckets, strict=True)]
        uptime = max(time.time() - self.started, 1e-9)
        return [
            VersionStats(
                model=model,
                version=version,
                requests=s.count,
                errors_4xx=s.errors_4xx,
                errors_5xx=s.errors_5xx,
                mean_ms=s.total_ms / s.count if s.count else 0.0,
                p50_ms=_quantile_ms(s.buckets, s.count, 0.5),
                p95_ms=_quantile_ms(s.buckets, s.count, 0.95),
                per_second=s.count / uptime,
            )
            for (model, version), s in sorted(merged.items())
        ]

    def prometheus(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        lines = [
            "# HELP maaskit_requests_total Prediction requests by model version and protocol.",
            "# TYPE maaskit_requests_total counter",
        ]
        items = sorted(self._series.items())
        for key, series in items:
            lines.append(f"maaskit_requests_total{{{_labels(key)}}} {series.count}")
        lines += [
            "# HELP maaskit_request_errors_total Failed prediction requests by class (client: 4xx, server: 5xx).",
            "# TYPE maaskit_request_errors_total counter",
        ]
        for key, series in items:
            lines.append(f'maaskit_request_errors_total{{{_labels(key)},class="client"}} {series.errors_4xx}')
            lines.append(f'maaskit_request_errors_total{{{_labels(key)},class="server"}} {series.errors_5xx}')
        lines += [
            "# HELP maaskit_request_duration_seconds Request latency inside the server.",
            "# TYPE maaskit_request_duration_seconds histogram",
        ]
        for key, series in items:
            labels = _labels(key)
            cumulative = 0
            for bound, count in zip((*BUCKETS_MS, None), series.buckets, strict=True):
                cumulative += count
                le = "+Inf" if bound is None else repr(bound / 1000.0)
                lines.append(f'maaskit_request_duration_seconds_bucket{{{labels},le="{le}"}} {cumulative}')
            lines.append(f"maaskit_request_duration_seconds_sum{{{labels}}} {series.total_ms / 1000.0!r}")
            lines.append(f"maaskit_request_duration_seconds_count{{{labels}}} {series.count}")
        lines += [
            "# HELP maaskit_process_start_time_seconds Start time of the process since the epoch.",
            "# TYPE maaskit_process_start_time_seconds gauge",
            f"maaskit_process_start_time_seconds {self.started!r}",
        ]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(key: _Key) -> str:
    model, version, protocol = key
    return f'model="{_escape(model)}",version="{_escape(version)}",protocol="{_escape(protocol)}"'


def emf_fields(namespace: str, model: str, version: str, status: int, latency_ms: float) -> dict[str, Any]:
    """Keys that turn a JSON log line into CloudWatch embedded-metric-format metrics for one request."""
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [["model", "version"]],
                    "Metrics": [
                        {"Name": "Latency", "Unit": "Milliseconds"},
                        {"Name": "Requests", "Unit": "Count"},
                        {"Name": "ClientErrors", "Unit": "Count"},
                        {"Name": "ServerErrors", "Unit": "Count"},
                    ],
                }
            ],
        },
        "Latency": round(latency_ms, 3),
        "Requests": 1,
        "ClientErrors": int(400 <= status < 500),
        "ServerErrors": int(status >= 500),
    }
