"""The page of an audio classifier (``audio-classification``): pick a recording, see its labels and scores.

The form (driven by ``classify_audio.js``) reads the file in the browser and posts it base64-encoded to
``models/{name}/predict`` as ``{"inputs": {"b64": ...}, "parameters": {"top_k": k}}``, relative to the page,
and shows the labels best first with their scores. The snippets (curl, Python ``requests``) send the same
body and are run by ``tests/handlers/page/test_audio_label_page.py``.
"""

from __future__ import annotations

import shlex

from bundle.names import API_KEY
from handlers.page.views import ModelView, Snippet, attr

__all__ = ["AUDIO_FILE", "DEFAULT_TOP_K", "audio_label_box", "audio_label_snippets"]

#: The recording the snippets send (a file of your own in the working directory).
AUDIO_FILE = "audio.wav"
DEFAULT_TOP_K = 5


def audio_label_box(view: ModelView) -> str:
    """The "try it" section: a file picker, how many labels, and the labels with their scores."""
    labels = len(view.shown.manifest.labels or [])
    top_k = min(DEFAULT_TOP_K, labels) if labels else DEFAULT_TOP_K
    return f"""<section id="try"><h2>Try it: classify a recording</h2>
<p>The recording goes base64-encoded to <code>POST models/{attr(view.name)}/predict</code> as
<code>{{"inputs": {{"b64": ...}}, "parameters": {{"top_k": k}}}}</code>: WAV, FLAC, OGG/Opus or MP3.</p>
<form id="audio-label-form" data-model="{attr(view.name)}">
<label for="audio-label-file">Audio file</label>
<input type="file" id="audio-label-file" name="file" accept="audio/*">
<label for="audio-label-top-k">Labels to show</label>
<input type="number" id="audio-label-top-k" name="top_k" min="1" max="{max(labels, 1)}" value="{top_k}">
<button type="submit" id="audio-label-send">Classify</button>
</form>
<h3>Labels <span id="audio-label-status" class="muted" role="status"></span></h3>
<table id="audio-label-scores" aria-live="polite" hidden><caption>Labels, best first</caption>
<thead><tr><th scope="col">label</th><th scope="col">score</th></tr></thead><tbody></tbody></table>
<pre id="audio-label-error" class="error" role="alert" hidden></pre>
</section>"""


def _body(view: ModelView) -> str:
    return f'{{"inputs": {{"b64": "\'"$(base64 -w0 {AUDIO_FILE})"\'"}}, "parameters": {{"top_k": {DEFAULT_TOP_K}}}}}'


def _curl(base: str, view: ModelView) -> str:
    return (
        f"curl -sS {shlex.quote(f'{base}/models/{view.name}/predict')} \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d '{_body(view)}'"
    )


def _python(base: str, view: ModelView) -> str:
    return (
        "import base64\nimport os\n\nimport requests\n\n"
        f'key = os.environ.get("{API_KEY}")  # your key where the API asks one\n'
        f'with open("{AUDIO_FILE}", "rb") as audio:\n'
        '    body = {"inputs": {"b64": base64.b64encode(audio.read()).decode()}, '
        f'"parameters": {{"top_k": {DEFAULT_TOP_K}}}}}\n'
        "answer = requests.post(\n"
        f"    {f'{base}/models/{view.name}/predict'!r},\n"
        "    json=body,\n"
        '    headers={"Authorization": f"Bearer {key}"} if key else {},\n'
        "    timeout=60,\n"
        ")\n"
        "answer.raise_for_status()\n"
        'for prediction in answer.json()["predictions"]:\n'
        "    print(f\"{prediction['score']:.4f}  {prediction['label']}\")"
    )


def audio_label_snippets(base: str, view: ModelView) -> list[Snippet]:
    """Calls that classify ``audio.wav`` with the audio classifier ``view`` at ``base``."""
    return [
        Snippet("curl", "curl (base64 in maaskit JSON)", "bash", _curl(base, view)),
        Snippet("python", "Python (requests)", "python", _python(base, view)),
    ]
