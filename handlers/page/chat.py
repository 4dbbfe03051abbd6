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
from typing import Any

from handlers.page.views import ChatSample, ModelView, Snippet, attr, openai_client_code

__all__ = ["SNIPPET_MAX_TOKENS", "chat_box", "chat_snippets"]

#: New tokens the snippets ask for: enough to see a stream, short enough to answer quickly on a CPU.
SNIPPET_MAX_TOKENS = 64


def _sample(view: ModelView) -> ChatSample:
    if view.chat is None:
        raise ValueError(f"{view.name} is not a generative model: it has no chat sample")
    return view.chat


def chat_box(view: ModelView) -> str:
    """The "try it" section: system prompt, conversation log, message, temperature, max tokens, Send and Stop.

    A base model without a chat template completes prompts instead (``/v1/completions``, one prompt at a time).
    """
    chat = _sample(view)
    if chat.has_template:
        title, route, mode = "chat", f"POST models/{view.name}/v1/chat/completions", "chat"
        intro = f"""<p>The conversation goes to <code>{attr(route)}</code> with <code>stream: true</code>; the answer
appears as it is generated. <strong>Stop</strong> ends the request and the server stops generating.</p>"""
        system = f"""<label for="chat-system">System prompt (optional)</label>
<textarea id="chat-system" name="system" rows="2" spellcheck="false">{attr(chat.system)}</textarea>"""
        label, hint = "Your message", "Ctrl+Enter sends. Earlier turns are sent with each message."
        clear = "New conversation"
    else:
        title, route, mode = "complete a prompt", f"POST models/{view.name}/v1/completions", "completion"
        intro = f"""<p>This model has no chat template: the prompt goes to <code>{attr(route)}</code> with
<code>stream: true</code> and the continuation appears as it is generated. <strong>Stop</strong> ends the request
and the server stops generating.</p>"""
        system = ""
        label, hint = "Prompt", "Ctrl+Enter sends. Each prompt is completed on its own."
        clear = "Clear"
    return f"""<section id="try"><h2>Try it: {title}</h2>
{intro}
<form id="chat-form" data-model="{attr(view.name)}" data-mode="{mode}">
{system}
<div id="chat-log" class="chat-log" role="log" aria-live="polite" aria-label="Conversation" aria-busy="false"></div>
<label for="chat-input">{label}</label>
<textarea id="chat-input" name="message" rows="3" aria-describedby="chat-hint">{attr(chat.user)}</textarea>
<p id="chat-hint" class="muted">{hint}</p>
<div class="controls">
<label for="chat-temperature">Temperature <span class="muted">(0: greedy)</span></label>
<input type="number" id="chat-temperature" name="temperature" min="0" max="2" step="0.1"
 value="{attr(f"{chat.temperature:g}")}">
<label for="chat-max-tokens">Max tokens <span class="muted">(at most {chat.max_tokens_cap})</span></label>
<input type="number" id="chat-max-tokens" name="max_tokens" min="1" max="{chat.max_tokens_cap}" step="1"
 value="{chat.max_tokens}">
</div>
<button type="submit" id="chat-send">Send</button>
<button type="button" id="chat-stop" class="secondary" disabled>Stop</button>
<button type="button" id="chat-clear" class="secondary">{clear}</button>
</form>
<p id="chat-status" class="muted" role="status"></p>
<pre id="chat-error" class="error" role="alert" hidden></pre>
</section>"""


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _curl(base: str, view: ModelView, chat: ChatSample) -> str:
    ask: dict[str, Any] = {"model": view.name}
    ask.update({"messages": chat.messages} if chat.has_template else {"prompt": chat.prompt})
    ask.update(stream=True, max_tokens=_tokens(chat))
    route = "chat/completions" if chat.has_template else "completions"
    return (
        f"curl -sS -N {shlex.quote(f'{base}/models/{view.name}/v1/{route}')} \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(_compact(ask))}"
    )


def _tokens(chat: ChatSample) -> int:
    return min(SNIPPET_MAX_TOKENS, chat.max_tokens_cap)


def _openai(base: str, view: ModelView, chat: ChatSample) -> str:
    if chat.has_template:
        call = f"client.chat.completions.create(\n    model={view.name!r},\n    messages={_compact(chat.messages)},\n"
        text = 'chunk.choices[0].delta.content or ""'
    else:
        call = f"client.completions.create(\n    model={view.name!r},\n    prompt={json.dumps(chat.prompt)},\n"
        text = "chunk.choices[0].text"
    return (
        openai_client_code(base, view.name) + f"stream = {call}"
        f"    max_tokens={_tokens(chat)},\n"
        "    stream=True,\n"
        ")\n"
        "for chunk in stream:\n"
        "    if chunk.choices:\n"
        f'        print({text}, end="", flush=True)\n'
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
