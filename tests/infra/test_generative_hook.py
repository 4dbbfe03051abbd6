"""The pre-traffic hook replays a text-generation bundle's golden greedy continuations.

The "new version" is the real Lambda handler (``handlers.lambda_entry``) run by maaskit's streaming loop
in process, under the local Runtime API of ``tests/handlers/lambda_stream``: its ``Invoke`` payload is
what Lambda hands back for a streaming function (prelude, 8 NUL bytes, body). A version whose weights
differ (another seed, same tokenizer and name) must fail the check; the buffered Mangum answer is read too.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

from bundle.generation import PAD_ID
from handlers.lambda_stream.bridge import split_prelude
from handlers.lambda_stream.loop import run
from handlers.lambda_stream.runtime_api import RuntimeApiClient
from infra.hook.generative import aligned_tokens, check_generation, completion_event, read_answer
from infra.hook.pre_traffic import _check, load_cases
from infra.samples import stage_hook_asset
from tests.bundle.serving import FakeLambda
from tests.handlers.lambda_stream.runtime_api_server import RuntimeApi


class StreamingLambda:
    """boto3 ``lambda`` client whose ``invoke`` runs the event through the streaming loop, as Lambda would."""

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter
        self.payloads: list[bytes] = []

    def invoke(self, *, FunctionName: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803  (boto3's names)
        api = RuntimeApi().start()
        try:
            record = api.invoke(json.loads(Payload))
            code = asyncio.run(run(RuntimeApiClient(api.address), lambda: self.adapter, invocations=1))
            assert code == 0 and record.done.wait(30) and not record.problems, record.problems
        finally:
            api.stop()
        assert record.streamed, "a streaming function answers in the Runtime API's streaming mode"
        self.payloads.append(record.body)
        return {"StatusCode": 200, "Payload": io.BytesIO(record.body)}


def lambda_handler(bundle: Path) -> Any:
    """Mangum over the maaskit app serving the generative ``bundle`` (loaded, verified and warmed up).

    Built as ``handlers.lambda_entry.build_handler`` builds it, with the repository made from
    ``load_generative`` (``ModelRepository.load`` does not pick the generative runtime yet).
    """
    from mangum import Mangum

    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.generation.runtime import load_generative
    from handlers.settings import Settings

    settings = Settings.load(environ={}, access_log=False, metrics="none")
    repository = ModelRepository([load_generative(bundle, settings)])
    return Mangum(create_app(repository, settings), lifespan="off")


@pytest.fixture(scope="module")
def other_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny-llama again with other random weights (same tokenizer, template and name): a wrong new version."""
    from model_packager import package
    from tests.genmodels import save_llama

    root = tmp_path_factory.mktemp("other-weights")
    folder = save_llama(root / "folder", seed=7)
    return package(folder, name="tiny-llama", version="1.0.1", out=root / "bundles").directory


@pytest.fixture(scope="module")
def hook_dir(tiny_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hook")
    stage_hook_asset(out, tiny_llama)
    return out


def test_the_hook_stages_what_the_generative_check_reads(hook_dir: Path):
    assert {"manifest.json", "samples.npz", "tokenizer.json", "generative.py", "pre_traffic.py"} <= {
        path.name for path in hook_dir.iterdir()
    }
    assert not (hook_dir / "model.onnx.data").exists(), "the hook asks the new version; it never holds the model"


def test_a_good_version_reproduces_the_golden_continuation_through_the_streaming_loop(tiny_llama, hook_dir):
    client = StreamingLambda(lambda_handler(tiny_llama))
    manifest, samples = load_cases(hook_dir)
    assert _check(client, "arn:aws:lambda:us-east-1:123456789012:function:f:7", manifest, samples, hook_dir) == []
    assert len(client.payloads) == samples.count
    prelude, body = split_prelude(client.payloads[0])  # the runtime's own reader agrees with the hook's
    assert prelude["statusCode"] == 200 and read_answer(client.payloads[0]) == (200, json.loads(body))


def test_a_version_with_other_weights_fails(other_weights, hook_dir):
    client = StreamingLambda(lambda_handler(other_weights))
    manifest, samples = load_cases(hook_dir)
    problems = _check(client, "arn:aws:lambda:us-east-1:123456789012:function:f:8", manifest, samples, hook_dir)
    assert problems and "differ from the golden continuation" in problems[-1]


def test_a_buffered_answer_is_judged_the_same(tiny_llama, hook_dir):
    client = FakeLambda(lambda_handler(tiny_llama))
    manifest, samples = load_cases(hook_dir)
    invoke = lambda event: client.invoke(FunctionName="f", Payload=json.dumps(event).encode())["Payload"].read()  # noqa: E731
    verdict, problems = check_generation(manifest, samples, hook_dir, invoke)
    assert verdict.passed and verdict.report.checks[0].measured == 1.0 and problems == []
    event = client.events[0]
    assert event["path"].startswith("/models/tiny-llama/v1/") and event["resource"] == "/models/tiny-llama/{proxy+}"
    body = json.loads(event["body"])
    assert body["temperature"] == 0 and body["stream"] is False
    golden = [int(t) for t in samples.outputs["greedy_ids"][0] if int(t) != PAD_ID]
    assert body["max_tokens"] == len(golden)


def test_an_error_status_is_a_problem(hook_dir):
    manifest, samples = load_cases(hook_dir)
    failing = b'{"statusCode": 500, "headers": {}}' + b"\x00" * 8 + b'{"error": {"message": "boom"}}'
    verdict, problems = check_generation(manifest, samples, hook_dir, lambda _event: failing)
    assert not verdict.passed and "HTTP 500" in problems[0]


def test_alignment_finds_the_first_differing_token():
    vocab = {1: "a", 2: "b", 3: "c", 9: ""}
    decode = lambda ids: "".join(vocab[i] for i in ids)  # noqa: E731
    assert aligned_tokens([1, 2, 3], "abc", "length", decode, {9}) == [1, 2, 3]
    assert aligned_tokens([1, 2, 3], "abx", "length", decode, {9}) == [1, 2]
    assert aligned_tokens([1, 2, 9], "ab", "stop", decode, {9}) == [1, 2, 9]
    assert aligned_tokens([1, 2, 9], "abc", "length", decode, {9})[-1] != 9  # went on past the golden end
    assert aligned_tokens([1, 2, 3], "abc", "stop", decode, {9})[-1] != 3  # stopped where the golden did not


def test_the_event_takes_the_chat_route_for_messages():
    event = completion_event("m", {"messages": [{"role": "user", "content": "hi"}]}, 4)
    assert event["path"] == "/models/m/v1/chat/completions" and event["pathParameters"] == {
        "proxy": "v1/chat/completions"
    }
    assert completion_event("m", {"prompt": "hi"}, 4)["path"] == "/models/m/v1/completions"


def test_invalid_utf8_is_dropped_as_the_token_stream_drops_it():
    from infra.hook.generative import stream_text

    assert stream_text("héllo".encode()) == "héllo"
    assert stream_text(b"a\xd3(b") == "ab"  # a 2-byte lead takes "(" with it
    assert stream_text(b"a\x9cb") == "ab"  # a stray continuation byte
    assert stream_text(b"a\xe2\x82") == "a"  # unfinished at the end: not shown yet
