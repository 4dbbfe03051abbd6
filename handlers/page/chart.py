"""A small server-side SVG chart of latency (p50, p95) and throughput per model version."""

from __future__ import annotations

from html import escape

from handlers.metrics import VersionStats

__all__ = ["latency_chart"]

_ROW = 34
_LEFT = 110
_WIDTH = 900
_BAR = 360


def latency_chart(stats: list[VersionStats]) -> str:
    """An inline ``<svg>``: one row per version, p95 bar behind the p50 bar, req/s and errors on the right."""
    served = [stat for stat in stats if stat.requests]
    if not served:
        return '<p class="muted">No predictions served yet: try the model below, then reload.</p>'
    top = max(stat.p95_ms for stat in served) or 1.0
    height = _ROW * len(served) + 24
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {_WIDTH} {height}" width="{_WIDTH}" height="{height}" '
        'xmlns="http://www.w3.org/2000/svg"><title>Latency per version (p50 solid, p95 light)</title>'
    ]
    for row, stat in enumerate(served):
        y = 8 + row * _ROW
        p95 = max(2.0, _BAR * stat.p95_ms / top)
        p50 = max(2.0, _BAR * stat.p50_ms / top)
        errors = stat.errors_4xx + stat.errors_5xx
        parts += [
            f'<text x="0" y="{y + 15}" class="axis">{escape(stat.version)}</text>',
            f'<rect x="{_LEFT}" y="{y}" width="{p95:.1f}" height="20" class="p95"/>',
            f'<rect x="{_LEFT}" y="{y + 5}" width="{p50:.1f}" height="10" class="p50"/>',
            f'<text x="{_LEFT + _BAR + 10}" y="{y + 15}" class="value">'
            f"p50 ≤{stat.p50_ms:g} ms · p95 ≤{stat.p95_ms:g} ms · {stat.per_second:.2f} req/s · "
            f"{stat.requests} req · {errors} err</text>",
        ]
    parts.append("</svg>")
    return "".join(parts)
