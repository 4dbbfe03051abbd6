"""The page of a speech (automatic-speech-recognition) model: upload or record audio, see the transcript.

The form (driven by ``speech.js``) posts multipart to ``models/{name}/v1/audio/transcriptions`` with
``response_format=verbose_json``, relative to the page, and shows the text and its segments. Where the
browser can record (``MediaRecorder`` on a secure origin) a recorder is offered; the recording is turned
into a 16 kHz mono WAV in the browser, because Chromium records WebM, which the server does not decode.
The snippets (curl ``-F``, the ``openai`` client) are run by ``tests/handlers/page/test_speech_page.py``.
"""

from __future__ import annotations

import shlex

from handlers.page.views import ModelView, Snippet, attr, openai_client_code

__all__ = ["AUDIO_FILE", "speech_box", "speech_snippets"]

#: The recording the snippets send (a file of your own in the working directory).
AUDIO_FILE = "audio.wav"


def speech_box(view: ModelView) -> str:
    """The "try it" section: a file picker, a recorder where the browser allows, the transcript and segments."""
    route = f"POST models/{view.name}/v1/audio/transcriptions"
    return f"""<section id="try"><h2>Try it: transcribe</h2>
<p>The recording goes to <code>{attr(route)}</code> as <code>multipart/form-data</code> with
<code>response_format=verbose_json</code>: WAV, FLAC, OGG/Opus or MP3.</p>
<form id="speech-form" data-model="{attr(view.name)}">
<label for="speech-file">Audio file</label>
<input type="file" id="speech-file" name="file" accept="audio/*">
<button type="submit" id="speech-send">Transcribe</button>
<div id="speech-recorder" hidden>
<button type="button" id="speech-record" class="secondary">Record</button>
<button type="button" id="speech-record-stop" class="secondary" disabled>Stop and transcribe</button>
<span id="speech-record-state" class="muted" role="status"></span>
</div>
<p id="speech-no-recorder" class="muted" hidden>This browser cannot record here (recording needs MediaRecorder
and a secure origin: https or localhost): upload a file instead.</p>
</form>
<h3>Transcript <span id="speech-status" class="muted"></span></h3>
<div id="speech-output" aria-live="polite">
<p id="speech-text" class="transcript"></p>
<table id="speech-segments" hidden><caption>Segments</caption>
<thead><tr><th scope="col">start (s)</th><th scope="col">end (s)</th><th scope="col">text</th></tr></thead>
<tbody></tbody></table>
</div>
<pre id="speech-error" class="error" role="alert" hidden></pre>
</section>"""


def _curl(base: str, view: ModelView) -> str:
    return (
        f"curl -sS {shlex.quote(f'{base}/models/{view.name}/v1/audio/transcriptions')} \\\n"
        f"  -F model={shlex.quote(view.name)} \\\n"
        f"  -F file=@{AUDIO_FILE} \\\n"
        "  -F response_format=verbose_json"
    )


def _openai(base: str, view: ModelView) -> str:
    return (
        openai_client_code(base, view.name) + f'with open("{AUDIO_FILE}", "rb") as audio:\n'
        "    transcript = client.audio.transcriptions.create(\n"
        f'        model={view.name!r}, file=audio, response_format="verbose_json"\n'
        "    )\n"
        "print(transcript.text)\n"
        "for segment in transcript.segments or []:\n"
        '    print(f"{segment.start:8.2f} {segment.end:8.2f}  {segment.text}")'
    )


def speech_snippets(base: str, view: ModelView) -> list[Snippet]:
    """Calls that transcribe ``audio.wav`` with the speech model ``view`` at ``base``."""
    return [
        Snippet("curl", "curl (multipart)", "bash", _curl(base, view)),
        Snippet("openai", "OpenAI client (audio.transcriptions)", "python", _openai(base, view)),
    ]
