"""The one judge: the feed and the rule come from the bundle's task; local and remote runners alike."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from bundle import open_bundle
from bundle.judge import Answer, RawSamples, judge, local_runner, raw_samples
from bundle.manifest import ParityCheck, ParityReport, TensorSpec, TextSpec
from bundle.samples import Samples
from bundle.writer import BundlePaths, write_bundle
from tests.bundle.conftest import make_manifest

TEXTS = ["the cat sat on the mat", "john loves paris", "a dog"]


def test_a_tensor_bundle_reproduces_its_samples_with_the_local_runner(written_bundle: BundlePaths) -> None:
    bundle = open_bundle(written_bundle.directory)
    verdict = judge(bundle.manifest, bundle.root, bundle.samples(), local_runner(bundle.manifest, bundle.root))
    assert verdict.passed and verdict.report.sample_count == 2
    assert raw_samples(bundle.manifest, bundle.samples()).kind == "tensors"


def test_a_runner_that_answers_otherwise_fails_naming_the_worst_element(written_bundle: BundlePaths) -> None:
    bundle = open_bundle(written_bundle.directory)
    samples = bundle.samples()
    seen: list[RawSamples] = []

    def off(raw: RawSamples) -> dict[str, np.ndarray]:
        seen.append(raw)
        return {"y": samples.outputs["y"] + 5e-4}

    verdict = judge(bundle.manifest, None, samples, off)
    assert not verdict.passed and verdict.problems[0].startswith("output 'y': worst element")
    np.testing.assert_array_equal(seen[0].tensors["x"], samples.inputs["x"])  # tensors as stored, called once
    assert judge(bundle.manifest, None, samples, off, accelerator=True).passed  # the accelerator slack
    missing = judge(bundle.manifest, None, samples, lambda _raw: {})
    assert missing.problems == ["output 'y' is missing from the outputs"]


def test_outputs_that_are_not_tensors_are_not_judged(written_bundle: BundlePaths) -> None:
    bundle = open_bundle(written_bundle.directory)
    samples = bundle.samples()
    answer = Answer({"y": samples.outputs["y"], "maps": [{"a": 1.0}]})  # type: ignore[dict-item]
    assert judge(
        bundle.manifest, None, Samples(samples.inputs, {**samples.outputs, "maps": np.zeros(2)}), lambda _r: answer
    ).passed


def _token_model() -> bytes:
    """scores [batch, tokens, 2] = (id, id) per token: a stand-in token classifier."""
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["ids", "axes"], ["column"]),
        helper.make_node("Concat", ["column", "column"], ["scores"], axis=2),
    ]
    graph = helper.make_graph(
        nodes,
        "tokens",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", "tokens", 2])],
        [helper.make_tensor("axes", TensorProto.INT64, [1], [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


@pytest.fixture
def token_bundle(tmp_path: Path) -> Path:
    pytest.importorskip("tokenizers")
    from bundle.processing.text import TextEncoder
    from tests.textmodels import save_tokenizer_json, vocabulary

    tokenizer = save_tokenizer_json(tmp_path / "tok").read_bytes()
    sha = hashlib.sha256(tokenizer).hexdigest()
    spec = TextSpec(
        tokenizer_sha256=sha, max_length=32, vocab_size=len(vocabulary()), pad_token_id=0, input_names=["input_ids"]
    )
    checks = [ParityCheck(output="scores", metric="max_abs_diff", tolerance=1e-4, measured=0.0, passed=True)]
    manifest = make_manifest("entities").model_copy(
        update={
            "task": "token-classification",
            "text": spec,
            "inputs": [TensorSpec(name="input_ids", dtype="int64", shape=[None, None])],
            "outputs": [TensorSpec(name="scores", dtype="float32", shape=[None, None, 2])],
            "parity": ParityReport(sample_count=3, passed=True, checks=checks),
            "files": {
                "model.onnx": {"sha256": "0" * 64, "size": 0},
                "tokenizer.json": {"sha256": sha, "size": len(tokenizer)},
            },
        }
    )
    import tokenizers

    encoder = TextEncoder(tokenizers.Tokenizer.from_str(tokenizer.decode()), spec)
    ids = encoder.encode(TEXTS).feed["input_ids"].astype(np.float32)
    expected = {"scores": np.stack([ids, ids], axis=2)}
    model = onnx.load_from_string(_token_model()).SerializeToString()
    paths = write_bundle(
        tmp_path / "out",
        manifest,
        model,
        {"text": np.asarray(TEXTS)},
        expected,
        extra_files={"tokenizer.json": tokenizer},
    )
    return paths.directory


def test_a_token_classifier_is_fed_raw_texts_and_judged_on_real_tokens_only(token_bundle: Path) -> None:
    bundle = open_bundle(token_bundle)
    manifest, samples = bundle.manifest, bundle.samples()
    assert raw_samples(manifest, samples).texts == TEXTS
    assert judge(manifest, bundle.root, samples, local_runner(manifest, bundle.root)).passed

    def remote(raw: RawSamples) -> dict[str, np.ndarray]:
        """A server that pads wider, with garbage on padding: no mask given, the judge encodes to find it."""
        scores = samples.outputs["scores"]
        wide = np.pad(scores, ((0, 0), (0, 4), (0, 0)), constant_values=7.0)
        padding = np.zeros(wide.shape[:2], dtype=bool)
        padding[:, : scores.shape[1]] = scores[..., 0] == 0  # [PAD] is id 0
        wide[padding] = 9.0
        return {"scores": wide}

    assert judge(manifest, bundle.root, samples, remote).passed

    def wrong(raw: RawSamples) -> dict[str, np.ndarray]:
        scores = samples.outputs["scores"].copy()
        scores[1, 1] += 1.0  # a real token of text 1
        return {"scores": scores}

    verdict = judge(manifest, bundle.root, samples, wrong)
    assert not verdict.passed and "scores" in verdict.problems[0]
