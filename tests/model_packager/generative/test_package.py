"""``maaskit package`` for causal LMs: detection, the bundle and its manifest, the gate, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bundle import open_bundle
from bundle.generation import PAD_ID
from bundle.processing.chat import template_sha256
from tests.genmodels import QWEN_TEMPLATE, save_llama, save_qwen2

ROOT = Path(__file__).resolve().parents[3]


def _maaskit(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from maaskit.cli import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600, check=False)


@pytest.fixture(scope="module")
def qwen_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_qwen2(tmp_path_factory.mktemp("qwen") / "folder")


def test_cli_detects_and_packages_a_qwen2_folder(qwen_folder: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    lines = [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                           {"role": "assistant", "content": "hello"}, {"role": "user", "content": "a story"}]},
             {"prompt": "the cat sat"}, "plain text line"]  # fmt: skip
    prompts.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = _maaskit("package", str(qwen_folder), "--name", "chat", "--version", "1.0.0", "--out", str(tmp_path),
                      "--sample", str(prompts))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "detected Qwen2ForCausalLM" in result.stderr
    assert "text-generation" in result.stdout and "greedy 32 tokens exact on 100%" in result.stdout
    assert "Saving" not in result.stdout + result.stderr  # the builder's output stays in the log

    bundle = open_bundle(tmp_path / "chat-1.0.0")  # checksums verified
    manifest = bundle.manifest
    spec = manifest.generation
    assert manifest.task == "text-generation" and spec is not None
    assert {"model.onnx", "model.onnx.data", "genai_config.json", "tokenizer.json", "tokenizer_config.json",
            "chat_template.jinja", "generation_config.json", "samples.npz"} <= set(manifest.files)  # fmt: skip
    assert spec.architecture == "Qwen2ForCausalLM" and spec.precision == "fp32" and spec.execution_provider == "cpu"
    assert spec.context_length == 256 and spec.max_new_tokens == 255 and spec.eos_token_ids
    assert spec.chat_template_sha256 == template_sha256(QWEN_TEMPLATE)
    gate = spec.parity
    assert gate.passed and gate.prompts == 3 and gate.greedy_exact == 1.0 and gate.template_agreement == 1.0
    assert gate.tokenizer_agreement == 1.0 and gate.logits_max_abs < 1e-3
    samples = bundle.samples()
    assert samples.inputs["prompt"].shape == (3,)
    greedy = samples.outputs["greedy_ids"]
    assert greedy.shape == (3, 32) and (greedy[:, 0] != PAD_ID).all()
    assert not any(path.name.startswith(".maaskit-") for path in tmp_path.iterdir())


def test_api_packages_a_llama_model_object_with_its_tokenizer(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from model_packager import package

    folder = save_llama(tmp_path / "llama")
    model = AutoModelForCausalLM.from_pretrained(str(folder))
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    result = package(model, tokenizer=tokenizer, name="llama", version="0.1.0", out=tmp_path / "out")
    spec = result.manifest.generation
    assert spec is not None and spec.architecture == "LlamaForCausalLM" and spec.parity.passed
    assert spec.template_tokens["bos_token"] == "<|begin_of_text|>"
    assert len(spec.eos_token_ids) == 2


def test_gate_failure_exits_1_with_figures_and_writes_nothing(qwen_folder: Path, tmp_path: Path, monkeypatch) -> None:
    from model_packager import ParityError, package
    from model_packager.generative import gate
    from model_packager.generative import package as packaging

    strict = gate.GenerationTolerances(logits_max_abs=0.0)
    monkeypatch.setattr(packaging, "tolerances_for_precision", lambda precision: strict)
    with pytest.raises(ParityError, match=r"logits max abs .* \(<= 0\)"):
        package(qwen_folder, name="strict", version="1.0.0", out=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unsupported_architecture_is_refused_up_front(tmp_path: Path) -> None:
    folder = tmp_path / "gpt2"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}))
    result = _maaskit("package", str(folder), "--name", "g", "--version", "1.0.0", "--out", str(tmp_path / "o"),
                      "--task", "text-generation")  # fmt: skip
    assert result.returncode == 2
    assert "not a causal LM folder" in result.stderr
    (folder / "config.json").write_text(json.dumps({"architectures": ["FalconForCausalLM"]}))
    result = _maaskit("package", str(folder), "--name", "g", "--version", "1.0.0", "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "FalconForCausalLM is not supported" in result.stderr and "model builder" in result.stderr


def test_unknown_and_impossible_precisions_are_refused(qwen_folder: Path, tmp_path: Path) -> None:
    from model_packager import package
    from model_packager.job import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="int8 text-generation bundles are for CPU"):
        package(qwen_folder, name="x", version="1.0.0", out=tmp_path, precision="fp16", quantize="int8")
    with pytest.raises(InvalidRequestError, match="fp32, int8 or int4"):
        package(qwen_folder, name="x", version="1.0.0", out=tmp_path, quantize="int2")
    assert list(tmp_path.iterdir()) == []


def test_samples_hold_prompt_ids_as_transformers_gave_them(qwen_folder: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from model_packager import package

    result = package(qwen_folder, name="ids", version="1.0.0", out=tmp_path, sample=["hello there"])
    samples = open_bundle(result.directory).samples()
    ids = [int(i) for i in samples.inputs["input_ids"][0] if i != PAD_ID]
    assert ids == AutoTokenizer.from_pretrained(str(qwen_folder))("hello there")["input_ids"]
    assert np.asarray(samples.inputs["prompt"]).tolist() == [json.dumps({"prompt": "hello there"})]


def test_replay_golden_verifies_and_catches_a_changed_continuation(qwen_folder: Path, tmp_path: Path) -> None:
    import shutil

    from bundle.samples import samples_bytes
    from model_packager import package
    from model_packager.generative.verify import replay_golden

    result = package(qwen_folder, name="replay", version="1.0.0", out=tmp_path, sample=["the cat sat"])
    assert replay_golden(open_bundle(result.directory)) == (True, "greedy tokens reproduced on 100% of the prompts")
    altered = tmp_path / "altered"
    shutil.copytree(result.directory, altered)
    samples = open_bundle(altered).samples()
    greedy = samples.outputs["greedy_ids"].copy()
    greedy[0, 3] = (greedy[0, 3] + 1) % 300
    (altered / "samples.npz").write_bytes(samples_bytes(samples.inputs, {"greedy_ids": greedy}))
    passed, line = replay_golden(open_bundle(altered, verify=False))
    assert not passed and "prompt 0, token 3" in line


def test_verify_and_the_repository_load_a_generative_bundle(qwen_folder: Path, tmp_path: Path) -> None:
    """``maaskit verify`` judges it through the one judge (greedy_exact) and ``serve``'s loader serves it."""
    from handlers.engine import ModelRepository
    from handlers.generation.runtime import GenerativeRuntime
    from handlers.settings import Settings
    from model_packager import package
    from model_packager.verify import verify_bundle

    result = package(qwen_folder, name="served", version="1.0.0", out=tmp_path, sample=["the cat sat"])
    verified = verify_bundle(result.archive)
    assert verified.passed, verified.steps
    assert "re-run through onnxruntime-genai" in verified.steps[-1].detail
    repository = ModelRepository.load(Settings.load(environ={}), [result.directory])
    runtime = repository.get("served")
    try:
        assert isinstance(runtime, GenerativeRuntime) and runtime.ready
    finally:
        runtime.close()
