"""HTML of the model page: standard-library templates, every dynamic value escaped, CSS and JS inline.

Nothing is fetched from elsewhere (no CDN, no framework): the page works offline and behind API Gateway
at any stage path, because the only URLs it calls are relative to its own location.
"""

from __future__ import annotations

import json
from importlib.resources import files
from string import Template
from typing import Any

from bundle import Manifest, ParityReport
from handlers.page.chart import latency_chart
from handlers.page.chat import chat_box
from handlers.page.classify_audio import audio_label_box
from handlers.page.transcribe import speech_box
from handlers.page.views import ModelView, Snippet, VersionView, pretty_json
from handlers.page.views import attr as _e

__all__ = ["index_page", "model_page"]

_ASSETS = files("handlers.page")
_LAYOUT = Template((_ASSETS / "layout.html").read_text(encoding="utf-8"))
_STYLE = (_ASSETS / "page.css").read_text(encoding="utf-8")
#: The page's one script: the form and snippets (page.js), the chat box (chat.js), the recorder (speech.js), the
#: audio classifier's form (classify_audio.js).
_SCRIPTS = ("page.js", "chat.js", "speech.js", "classify_audio.js")
_SCRIPT = "\n".join((_ASSETS / name).read_text(encoding="utf-8") for name in _SCRIPTS)


def _script_json(value: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` element (no ``</script>`` break-out)."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _layout(title: str, body: str, nonce: str) -> str:
    return _LAYOUT.substitute(title=_e(title), style=_STYLE, body=body, script=_SCRIPT, nonce=_e(nonce))


def _table(headers: list[str], rows: list[list[str]], css: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def index_page(service: str, views: list[ModelView], nonce: str) -> str:
    """``/``: every model served, its versions and which one is latest."""
    rows = []
    for view in views:
        versions = ", ".join(
            f'<span class="{"badge latest" if v.latest else "badge"}">{_e(v.version)}</span>' for v in view.versions
        )
        manifest = view.shown.manifest
        rows.append(
            [
                f'<a href="models/{_e(view.name)}">{_e(view.name)}</a>',
                versions,
                _e(manifest.task),
                _e(f"{manifest.framework.name} {manifest.framework.version}"),
            ]
        )
    table = _table(["model", "versions (latest highlighted)", "task", "framework"], rows, "models")
    empty = "" if views else '<p class="muted">No models are loaded.</p>'
    body = f"<header><h1>{_e(service)}</h1><p>Models served by this endpoint.</p></header>{table}{empty}"
    return _layout(f"{service}: models", body, nonce)


def _shape(shape: list[int | None]) -> str:
    """``[?, 4]``: ``?`` marks a dynamic axis (any size, usually the batch)."""
    return "[" + ", ".join("?" if axis is None else str(axis) for axis in shape) + "]"


#: Tasks whose graph is not called with tensors, and what their callers send instead.
_RAW_TASKS = {
    "text-generation": "text (a conversation or a prompt)",
    "automatic-speech-recognition": "audio files",
    "audio-classification": "audio files",
}


def _signature(manifest: Manifest) -> str:
    def rows(specs: list[Any], kind: str) -> list[list[str]]:
        return [[_e(kind), f"<code>{_e(s.name)}</code>", _e(s.dtype), _e(_shape(s.shape))] for s in specs]

    table = _table(["", "name", "dtype", "shape"], rows(manifest.inputs, "input") + rows(manifest.outputs, "output"))
    labels = ""
    if manifest.labels:
        labels = "<p>Labels: " + ", ".join(f"<code>{_e(label)}</code>" for label in manifest.labels) + "</p>"
    note = ""
    if manifest.task in _RAW_TASKS:
        note = (
            '<p class="muted">The graph as exported: the server feeds these tensors itself. Send '
            f"{_RAW_TASKS[manifest.task]} to the routes below.</p>"
        )
    return f"<section><h2>Signature</h2>{table}{labels}{note}</section>"


def _parity(title: str, report: ParityReport) -> str:
    rows = [
        [f"<code>{_e(c.output)}</code>", _e(c.metric), _e(f"{c.measured:.3g}"), _e(f"{c.tolerance:g}"),
         "✓ passed" if c.passed else "✗ failed"]
        for c in report.checks
    ]  # fmt: skip
    verdict = "passed" if report.passed else "FAILED"
    head = f"<h3>{_e(title)}: {verdict} on {report.sample_count} samples</h3>"
    return head + _table(["output", "metric", "measured", "tolerance", ""], rows, "parity")


def _evidence(manifest: Manifest) -> str:
    parts = [_parity("Parity gate (original model vs ONNX)", manifest.parity)]
    opt = manifest.optimization
    if opt is not None:
        parts.append(
            f"<p>Optimizations: graph level <code>{_e(opt.graph_level)}</code>, quantization "
            f"<code>{_e(opt.quantization)}</code>, size {opt.size_before:,} → {opt.size_after:,} bytes</p>"
        )
        parts.append(_parity("Parity after optimization", opt.parity))
    return "<section><h2>Parity and optimizations</h2>" + "".join(parts) + "</section>"


def _provenance(version: VersionView) -> str:
    m = version.manifest
    p = m.provenance
    rows = [
        ["framework", _e(f"{m.framework.name} {m.framework.version}")],
        ["converter", _e(f"{m.converter.name} {m.converter.version}")],
        ["opsets", _e(", ".join(f"{k or 'ai.onnx'}={v}" for k, v in sorted(m.opsets.items())))],
        ["created", _e(m.created)],
        ["packaged by", _e(f"maaskit {p.maaskit_version}, Python {p.python_version}")],
        ["git commit", _e(p.git_commit or "—")],
        ["CI run", _e(f"{p.ci_provider or ''} {p.ci_run_id or '—'}".strip())],
        ["providers", _e(", ".join(version.providers))],
    ]
    rows += [[f"sha256 <code>{_e(name)}</code>", f"<code>{_e(f.sha256)}</code> ({f.size:,} bytes)"]
             for name, f in sorted(m.files.items())]  # fmt: skip
    rows += [[f"metadata <code>{_e(k)}</code>", _e(v)] for k, v in sorted(m.metadata.items())]
    return "<section><h2>Provenance</h2>" + _table(["", ""], rows, "provenance") + "</section>"


def _versions(view: ModelView) -> str:
    rows = [
        [_e(v.version), "latest (unpinned requests)" if v.latest else "pinned only", "ready" if v.ready else "warming",
         _e(v.manifest.created)]
        for v in view.versions
    ]  # fmt: skip
    note = (
        '<p class="muted">Pin a version with <code>/models/NAME/versions/VERSION/predict</code> or the '
        "<code>X-Maaskit-Model-Version</code> header.</p>"
    )
    return "<section><h2>Versions</h2>" + _table(["version", "serves", "state", "created"], rows) + note + "</section>"


def _try_it(view: ModelView) -> str:
    if view.family == "generation":
        return chat_box(view)
    if view.family == "speech":
        return speech_box(view)
    if view.family == "audio-label":
        return audio_label_box(view)
    expected = pretty_json(view.sample_outputs)
    return f"""<section id="try"><h2>Try it</h2>
<p>Prefilled with {len(next(iter(view.sample_inputs.values()), []))} of the bundle's own samples; edit and send.
The answer appears beside what the ORIGINAL model gave for the prefilled samples.</p>
<form id="try-form" data-model="{_e(view.name)}">{_image_picker(view)}
<label for="try-body">Request body (maaskit JSON, <code>POST models/{_e(view.name)}/predict</code>)</label>
<textarea id="try-body" name="body" rows="10" spellcheck="false">{_e(view.sample_body)}</textarea>
<button type="submit" id="try-send">Send</button>
</form>
<div class="columns">
<div><h3>Answer <span id="try-status" class="muted"></span></h3><pre id="try-answer" aria-live="polite"></pre></div>
<div><h3>Original model's output</h3><pre id="try-expected">{_e(expected)}</pre></div>
</div></section>"""


def _image_picker(view: ModelView) -> str:
    if view.shown.manifest.image is None:
        return ""
    return (
        '<label for="try-image">Image (JPEG, PNG or WebP): replaces the sample in the body</label> '
        '<input type="file" id="try-image" accept="image/jpeg,image/png,image/webp"><br>'
    )


def _snippets(found: list[Snippet], base: str) -> str:
    tabs = "".join(
        f'<details class="snippet" data-key="{_e(s.key)}"><summary>{_e(s.label)}</summary>'
        f'<button type="button" class="copy">Copy</button><pre><code class="language-{_e(s.language)}">'
        f"{_e(s.code)}</code></pre></details>"
        for s in found
    )
    # data-base: the URL the snippets were written with; page.js puts the browser's own base in its place
    # where they differ (an API Gateway stage or a custom domain's base path the server does not see).
    return f'<section id="calls" data-base="{_e(base)}"><h2>Copy the call</h2>{tabs}</section>'


def model_page(view: ModelView, found: list[Snippet], *, metrics_on: bool, nonce: str, base: str = "") -> str:
    """``/models/{name}``: signature, versions, parity, provenance, latency chart, try-it form and snippets.

    ``base``: the server's URL the snippets were written with (scheme, host, any root path; no slash).
    """
    shown = view.shown
    stats = [v.stats for v in view.versions if v.stats is not None]
    chart = latency_chart(stats) if metrics_on else (
        '<p class="muted">In-process metrics are off on this target (see CloudWatch).</p>'
    )  # fmt: skip
    body = (
        f'<header><p><a href="../">← all models</a></p><h1>{_e(view.name)} <span class="badge latest">'
        f"{_e(shown.version)}</span></h1><p>{_e(shown.manifest.task)} · {len(view.versions)} version(s)</p></header>"
        + _signature(shown.manifest)
        + _versions(view)
        + f"<section><h2>Latency and throughput</h2>{chart}</section>"
        + _try_it(view)
        + _snippets(found, base)
        + _evidence(shown.manifest)
        + _provenance(shown)
        + f'<script type="application/json" id="page-data">{_script_json({"model": view.name})}</script>'
    )
    return _layout(f"{view.name} {shown.version}", body, nonce)
