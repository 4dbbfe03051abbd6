"""The page of a generative (text-generation) model: a streaming chat box and the calls that stream.

The chat box (driven by ``chat.js``) sends the conversation to ``models/{name}/v1/chat/completions`` with
``stream: true``, relative to the page, and shows the deltas as they arrive. The snippets stream too: curl
(``-N``), the ``openai`` client (``stream=True``, base URL ``/models/{name}/v1``) and the SageMaker runtime
(``invoke_endpoint_with_response_stream`` with the Hugging Face LLM container's body). Every snippet is
run by ``tests/handlers/page/test_chat_page.py``.
"""

from __future__ import annotations

import json
import shlex
from html import escape
from typing import Any

from bundle.names import API_KEY
from handlers.page.views import ChatSample, ModelView, Snippet

__all__ = ["SNIPPET_MAX_TOKENS", "chat_box", "chat_snippets"]

#: New tokens the snippets ask for: enough to see a stream, short enough to answer quickly on a CPU.
SNIPPET_MAX_TOKENS = 64


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _sample(view: ModelView) -> ChatSample:
    if view.chat is None:
        raise ValueError(f"{view.name} is not a generative model: it has no chat sample")
    return view.chat


def chat_box(view: ModelView) -> str:
    """The "try it" section: system prompt, conversation log, message, temperature, max tokens, Send and Stop."""
    chat = _sample(view)
    route = f"POST models/{view.name}/v1/chat/completions"
    return f"""<section id="try"><h2>Try it: chat</h2>
<p>The conversation goes to <code>{_e(route)}</code> with <code>stream: true</code>; the answer appears as it
is generated. <strong>Stop</strong> ends the request and the server stops generating.</p>
<form id="chat-form" data-model="{_e(view.name)}">
<label for="chat-system">System prompt (optional)</label>
<textarea id="chat-system" name="system" rows="2" spellcheck="false">{_e(chat.system)}</textarea>
<div id="chat-log" class="chat-log" role="log" aria-live="polite" aria-label="Conversation" aria-busy="false"></div>
<label for="chat-input">Your message</label>
<textarea id="chat-input" name="message" rows="3" aria-describedby="chat-hint">{_e(chat.user)}</textarea>
<p id="chat-hint" class="muted">Ctrl+Enter sends. Earlier turns are sent with each message.</p>
<div class="controls">
<label for="chat-temperature">Temperature <span class="muted">(0: greedy)</span></label>
<input type="number" id="chat-temperature" name="temperature" min="0" max="2" step="0.1"
 value="{_e(f"{chat.temperature:g}")}">
<label for="chat-max-tokens">Max tokens <span class="muted">(at most {chat.max_tokens_cap})</span></label>
<input type="number" id="chat-max-tokens" name="max_tokens" min="1" max="{chat.max_tokens_cap}" step="1"
 value="{chat.max_tokens}">
</div>
<button type="submit" id="chat-send">Send</button>
<button type="button" id="chat-stop" class="secondary" disabled>Stop</button>
<button type="button" id="chat-clear" class="secondary">New conversation</button>
</form>
<p id="chat-status" class="muted" role="status"></p>
<pre id="chat-error" class="error" role="alert" hidden></pre>
</section>"""


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _curl(base: str, view: ModelView, chat: ChatSample) -> str:
    body = {"model": view.name, "messages": chat.messages, "stream": True, "max_tokens": _tokens(chat)}
    return (
        f"curl -sS -N {shlex.quote(f'{base}/models/{view.name}/v1/chat/completions')} \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(_compact(body))}"
    )


def _tokens(chat: ChatSample) -> int:
    return min(SNIPPET_MAX_TOKENS, chat.max_tokens_cap)


def _openai(base: str, view: ModelView, chat: ChatSample) -> str:
    return (
        "import os\n\n"
        "from openai import OpenAI\n\n"
        "client = OpenAI(\n"
        f"    base_url={f'{base}/models/{view.name}/v1'!r},\n"
        f'    api_key=os.environ.get("{API_KEY}", "unused-by-maaskit-serve"),  # your key where the API asks one\n'
        ")\n"
        "stream = client.chat.completions.create(\n"
        f"    model={view.name!r},\n"
        f"    messages={_compact(chat.messages)},\n"
        f"    max_tokens={_tokens(chat)},\n"
        "    stream=True,\n"
        ")\n"
        "for chunk in stream:\n"
        "    if chunk.choices:\n"
        '        print(chunk.choices[0].delta.content or "", end="", flush=True)\n'
        "print()"
    )


def _sagemaker(view: ModelView, chat: ChatSample) -> str:
    # A Python literal (True, not JSON's true); a JSON string is also a valid Python string literal.
    parameters = f'{{"max_new_tokens": {_tokens(chat)}}}'
    body = f'{{"inputs": {json.dumps(chat.prompt)}, "parameters": {parameters}, "stream": True}}'
    return (
        "import json\n\n"
        "import boto3\n\n"
        'runtime = boto3.client("sagemaker-runtime")\n'
        "response = runtime.invoke_endpoint_with_response_stream(\n"
        f'    EndpointName="maaskit-<stage>-{view.name}",  # the endpoint `maaskit status` names\n'
        '    ContentType="application/json",\n'
        '    Accept="text/event-stream",\n'
        f"    Body=json.dumps({body}),\n"
        ")\n"
        'pending = b""\n'
        'for event in response["Body"]:\n'
        '    pending += event.get("PayloadPart", {}).get("Bytes", b"")\n'
        '    while b"\\n\\n" in pending:  # a PayloadPart may end inside an event: keep the rest for the next\n'
        '        line, pending = pending.split(b"\\n\\n", 1)\n'
        '        if not line.startswith(b"data:"):\n'
        "            continue\n"
        "        data = json.loads(line[5:])\n"
        '        if "error" in data:\n'
        '            raise RuntimeError(data["error"])\n'
        '        if not data["token"]["special"]:\n'
        '            print(data["token"]["text"], end="", flush=True)\n'
        "print()"
    )


def chat_snippets(base: str, view: ModelView) -> list[Snippet]:
    """Streamed calls to the generative model ``view`` at ``base`` (scheme, host and any stage path)."""
    chat = _sample(view)
    return [
        Snippet("curl", "curl (streamed)", "bash", _curl(base, view, chat)),
        Snippet("openai", "OpenAI client (stream=True)", "python", _openai(base, view, chat)),
        Snippet("sagemaker", "SageMaker runtime (boto3, streamed)", "python", _sagemaker(view, chat)),
    ]
