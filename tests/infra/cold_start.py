"""Cold start of a streaming function, measured: a fresh process to the first token of an OpenAI chat stream.

``python -m tests.infra.cold_start BUNDLE [--runs N] [--source function_url|apigw]`` starts, per run, a
fresh Python process that initialises as a streaming Lambda function does (imports, bundle opened,
verified, warmed up on its golden continuation) and then runs maaskit's streaming loop
(``handlers.lambda_stream.loop.run``) against the local Runtime API of ``tests/handlers/lambda_stream``,
which already holds one chat event (``stream: true``). Times are from just before the process is spawned
(``time.perf_counter``, CLOCK_MONOTONIC: one clock for both processes) to the prelude, the first content
token and the last chunk arriving at the Runtime API.

The process builds the app with ``load_generative`` (the repository loader does not pick generative bundles
yet); once ``handlers.lambda_entry`` loads them this is ``python -m handlers.lambda_stream``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.handlers.events import load_event
from tests.handlers.lambda_stream.runtime_api_server import RuntimeApi

REPO = Path(__file__).resolve().parents[2]
_CHILD = """
import asyncio, os, sys
from mangum import Mangum
from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.generation.runtime import load_generative
from handlers.lambda_stream.loop import run
from handlers.lambda_stream.runtime_api import RuntimeApiClient
from handlers.settings import Settings

def adapter():
    settings = Settings.load(access_log=False, metrics="none")
    return Mangum(create_app(ModelRepository([load_generative(sys.argv[1], settings)]), settings), lifespan="off")

sys.exit(asyncio.run(run(RuntimeApiClient(os.environ["AWS_LAMBDA_RUNTIME_API"]), adapter, invocations=1)))
"""


@dataclass(frozen=True)
class ColdStart:
    """Seconds from spawning the process to the prelude, the first content token and the last chunk."""

    prelude_s: float
    first_token_s: float
    last_chunk_s: float
    tokens: int


def chat_event(model: str, source: str, max_tokens: int) -> dict[str, Any]:
    """A streamed chat request for ``model`` as a Function URL or API Gateway REST event."""
    body = {"model": model, "messages": [{"role": "user", "content": "Tell me a story."}], "stream": True,
            "max_tokens": max_tokens, "temperature": 0}  # fmt: skip
    if source == "function_url":
        event = load_event("function_url_chat_stream")
        event["rawPath"] = event["requestContext"]["http"]["path"] = f"/models/{model}/v1/chat/completions"
    else:
        event = load_event("apigw_v1_chat_stream")
        event["path"] = event["requestContext"]["path"] = f"/models/{model}/v1/chat/completions"
        event["resource"] = event["requestContext"]["resourcePath"] = f"/models/{model}/{{proxy+}}"
        event["pathParameters"] = {"proxy": "v1/chat/completions"}
    event["body"] = json.dumps(body)
    return event


def measure(bundle: Path, source: str = "function_url", max_tokens: int = 64) -> ColdStart:
    """One cold start: a fresh process, one streamed chat answer."""
    api = RuntimeApi().start()
    try:
        record = api.invoke(chat_event(json.loads((bundle / "manifest.json").read_text())["name"], source, max_tokens))
        env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": api.address, "MAASKIT_INTRA_OP_THREADS": "1"}
        started = time.perf_counter()
        process = subprocess.run([sys.executable, "-c", _CHILD, str(bundle)], cwd=REPO, env=env,
                                 capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
        if process.returncode != 0 or not record.done.wait(10) or record.problems:
            raise RuntimeError(f"the loop failed: {record.problems} {process.stdout[-1500:]} {process.stderr[-1500:]}")
    finally:
        api.stop()
    tokens = [
        at
        for at, chunk in record.chunks
        if b'"content":"' in chunk.replace(b'": "', b'":"') and b'"content":""' not in chunk
    ]
    return ColdStart(record.chunks[0][0] - started, tokens[0] - started, record.chunks[-1][0] - started, len(tokens))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--source", choices=["function_url", "apigw"], default="function_url")
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    results = [measure(args.bundle, args.source, args.max_tokens) for _ in range(args.runs)]
    for name in ("prelude_s", "first_token_s", "last_chunk_s"):
        values = [getattr(result, name) for result in results]
        print(f"{name}: median {statistics.median(values):.3f} s, min {min(values):.3f}, max {max(values):.3f}")
    print(f"tokens streamed per answer: {results[0].tokens}; runs: {args.runs}; source: {args.source}")


if __name__ == "__main__":
    main()
