"""int8 and int4 causal LM bundles: packaged from Llama- and Qwen-style folders, gated near-tie aware, served.

The quantized gate cannot ask for transformers' exact greedy tokens (rounding flips near-ties); it asks
that every token the bundle picks is one the original ranks within ``near_tie_logits`` of its own first
choice, at every prompt position and at every step of the bundle's own greedy continuation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bundle import open_bundle
from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.generation.engine import GenerationRequest
from handlers.generation.runtime import GenerativeRuntime, load_generative
from handlers.settings import Settings
from tests.genmodels import save_llama, save_qwen2
from tests.handlers.conftest import LiveServer

openai = pytest.importorskip("openai")

KINDS = {"llama": save_llama, "qwen2": save_qwen2}
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me a story."}]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("quantized")
    return {kind: save(root / kind) for kind, save in KINDS.items()}


@pytest.fixture(scope="module")
def quantized(folders: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"llama-int4": bundle dir, ...}``: each folder packaged int8 and int4 through ``package()``."""
    from model_packager import package

    out = tmp_path_factory.mktemp("bundles")
    bundles = {}
    for kind, folder in folders.items():
        for precision in ("int8", "int4"):
            name = f"{kind}-{precision}"
            bundles[name] = package(folder, name=name, version="1.0.0", out=out, quantize=precision).directory
    return bundles


@pytest.fixture(scope="module")
def served(quantized: dict[str, Path]) -> Iterator[LiveServer]:
    settings = Settings.load(environ={}, access_log=False, metrics="none")
    runtimes: list[GenerativeRuntime] = [load_generative(path, settings) for path in quantized.values()]
    try:
        with LiveServer(create_app(ModelRepository(runtimes), settings)) as server:
            yield server
    finally:
        for runtime in runtimes:
            runtime.close()


@pytest.mark.parametrize("name", ["llama-int8", "llama-int4", "qwen2-int8", "qwen2-int4"])
def test_quantized_bundle_records_its_precision_and_a_near_tie_gate(quantized: dict[str, Path], name: str) -> None:
    from model_packager.verify import verify_bundle

    bundle = open_bundle(quantized[name])
    spec = bundle.manifest.generation
    assert spec is not None and spec.precision == name.split("-")[1]
    gate = spec.parity
    assert gate.passed and gate.near_tie_logits == 1.0
    assert gate.top1_near_tie is not None and gate.top1_near_tie >= gate.min_top1 == 0.98
    assert gate.greedy_near_tie is not None and gate.greedy_near_tie >= 0.95
    assert gate.top1_near_tie >= gate.top1_agreement  # exact agreement is recorded beside it
    checks = {check.output: check for check in bundle.manifest.parity.checks}
    assert checks["greedy_near_tie"].passed and checks["next_token"].measured == gate.top1_near_tie
    # the stored golden continuation is the bundle's own, so verify (and the hook, the warm-up) replays it exactly
    verified = verify_bundle(quantized[name])
    assert verified.passed, verified.steps


def test_int4_keeps_8_bit_where_it_matters_and_is_smaller(quantized: dict[str, Path]) -> None:
    """The builder's int4 setting maaskit uses: k-quant, lm_head and sensitive layers 8-bit (recorded in the log)."""
    sizes = {name: sum(f.stat().st_size for f in path.glob("model.onnx*")) for name, path in quantized.items()}
    assert sizes["llama-int4"] < sizes["llama-int8"] and sizes["qwen2-int4"] < sizes["qwen2-int8"]


@pytest.mark.parametrize("name", ["llama-int4", "qwen2-int8"])
def test_openai_client_chats_and_completes_with_a_quantized_bundle(served: LiveServer, name: str) -> None:
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0, timeout=60)
    whole = client.chat.completions.create(model=name, messages=MESSAGES, temperature=0, max_tokens=16)
    chunks = list(client.chat.completions.create(model=name, messages=MESSAGES, temperature=0, max_tokens=16,
                                                 stream=True))  # fmt: skip
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert whole.choices[0].message.content == streamed  # greedy: the same answer streamed or not
    assert whole.usage.completion_tokens >= 1
    completion = client.completions.create(model=name, prompt="once upon a time", temperature=0, max_tokens=8)
    assert completion.choices[0].finish_reason in {"stop", "length"} and completion.usage.completion_tokens >= 1


def test_the_near_tie_gate_refuses_what_exact_agreement_would_refuse(
    folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a zero near-tie band every bundle step must be the original's choice: int4 fails, naming the figures."""
    from model_packager import ParityError, package
    from model_packager.generative import gate
    from model_packager.generative import package as packaging

    exact = gate.GenerationTolerances(logits_max_abs=float("inf"), kl=1.0, min_top1=1.0, min_greedy_exact=0.0,
                                      near_tie_logits=0.0, min_greedy_near_tie=1.0)  # fmt: skip
    monkeypatch.setattr(packaging, "tolerances_for_precision", lambda precision: exact)
    with pytest.raises(ParityError, match=r"within 0 logit of the original's choice .*greedy steps within it"):
        package(folders["qwen2"], name="exact", version="1.0.0", out=tmp_path, quantize="int4")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_gaps_measure_how_far_below_the_originals_choice_a_token_sits() -> None:
    from model_packager.generative.gate import _gaps

    logits = np.asarray([[0.0, 2.0, 1.5], [3.0, -1.0, 2.9]])
    assert _gaps(logits, np.asarray([1, 2])).tolist() == pytest.approx([0.0, 0.1])
    assert _gaps(logits, np.asarray([0, 1])).tolist() == pytest.approx([2.0, 4.0])


@pytest.mark.parametrize(("options", "precision"), [({"precision": "fp16"}, "fp16"),
                                                    ({"precision": "fp16", "quantize": "int4"}, "int4")])  # fmt: skip
def test_cuda_bundles_are_gated_on_the_cpu_provider_and_served_there_when_no_gpu(
    folders: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture, options: dict[str, str], precision: str
) -> None:
    """fp16 and int4 CUDA builds: same graph on the CPU execution provider for the gate, verify and a GPU-less serve."""
    from model_packager import package
    from model_packager.verify import verify_bundle

    result = package(folders["llama"], name="gpu", version="1.0.0", out=tmp_path, **options)
    spec = result.manifest.generation
    assert spec is not None and spec.execution_provider == "cuda" and spec.precision == precision
    assert spec.parity.passed and spec.parity.near_tie_logits == 1.0 and spec.replay_min_exact == 0.5
    assert any("gated here on the CPU execution provider" in note for note in result.notes)
    assert verify_bundle(result.directory).passed
    settings = Settings.load(environ={}, access_log=False, metrics="none")
    with caplog.at_level("WARNING", logger="maaskit.generation"):
        runtime = load_generative(result.directory, settings)  # warmed up: the golden replayed on the CPU
    try:
        assert "built for CUDA but runs on the CPU execution provider" in caplog.text
        _text, done = runtime.engine.generate(
            GenerationRequest(runtime.generation_processor.prompt_ids("once upon a time"), 8, temperature=0.0)
        )
        assert done.completion_tokens >= 1 and done.reason in {"stop", "length"}
    finally:
        runtime.close()
