"""Packaging text models as users do: ``maaskit package DIR`` and ``package(model, tokenizer=...)``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bundle import open_bundle
from maaskit.cli import app
from model_packager import package
from model_packager.api import InvalidRequestError
from model_packager.text_samples import BUILTIN_TEXTS
from tests.model_packager.text.helpers import cosine, run_bundle
from tests.textmodels import ENTITY_LABELS, SENTIMENT_LABELS

pytestmark = pytest.mark.torch

runner = CliRunner()
TEXTS = ["The cat sat on the mat.", "Alice met Bob in Paris.", "Stock markets fell.", "ok"]


def _cli(*args: object):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["package", *[str(arg) for arg in args]])


def test_sentence_transformers_folder_packages_with_one_command(st_folder: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    result = _cli(st_folder, "--name", "minilm", "--version", "1.0.0", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "task feature-extraction (detected from modules.json" in result.output
    assert f"the built-in set of {len(BUILTIN_TEXTS)} texts" in result.output
    assert "min_cosine" in result.output and "ranking_agreement" in result.output

    bundle = open_bundle(tmp_path / "minilm-1.0.0")
    manifest = bundle.manifest
    assert manifest.task == "feature-extraction" and manifest.framework.name == "sentence-transformers"
    assert manifest.embedding is not None
    assert (manifest.embedding.pooling, manifest.embedding.normalized, manifest.embedding.dimensions) == (
        "mean",
        True,
        32,
    )
    assert manifest.text is not None and manifest.text.max_length == 32  # sentence-transformers max_seq_length
    assert manifest.files["tokenizer.json"].sha256 == manifest.text.tokenizer_sha256
    assert (bundle.root / "tokenizer.json").read_bytes() == (st_folder / "tokenizer.json").read_bytes()
    assert [spec.name for spec in manifest.outputs] == ["sentence_embedding"]
    assert all(spec.shape[:2] == [None, None] for spec in manifest.inputs)  # dynamic batch and sequence
    samples = bundle.samples()
    assert samples.inputs["text"].tolist() == list(BUILTIN_TEXTS)  # raw texts, not token ids

    outputs, _ = run_bundle(bundle.root, TEXTS)
    original = SentenceTransformer(str(st_folder), device="cpu", local_files_only=True).encode(TEXTS)
    assert cosine(outputs["sentence_embedding"], original).min() >= 0.9999
    np.testing.assert_allclose(np.linalg.norm(outputs["sentence_embedding"], axis=1), 1.0, atol=1e-5)
    inspected = runner.invoke(app, ["inspect", str(tmp_path / "minilm-1.0.0")], env={"COLUMNS": "240"})
    assert inspected.exit_code == 0, inspected.output
    assert (
        "max_length 32 tokens, vocab_size" in inspected.output and "mean pooling, normalized True" in inspected.output
    )
    verified = runner.invoke(app, ["verify", str(tmp_path / "minilm-1.0.0.tar.gz")])
    assert verified.exit_code == 0, verified.output
    assert f"{len(BUILTIN_TEXTS)} samples re-run through onnxruntime, outputs match" in verified.output


def test_cls_pooling_without_normalize_from_a_sentence_transformer_object(st_cls_folder: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(st_cls_folder), device="cpu", local_files_only=True)
    result = package(model, name="cls-emb", version="1.0.0", out=tmp_path, sample=TEXTS)
    assert result.manifest.embedding is not None
    assert (result.manifest.embedding.pooling, result.manifest.embedding.normalized) == ("cls", False)
    outputs, _ = run_bundle(result.directory, TEXTS)
    assert not np.allclose(np.linalg.norm(outputs["sentence_embedding"], axis=1), 1.0)
    assert cosine(outputs["sentence_embedding"], model.encode(TEXTS)).min() >= 0.9999


def test_text_classifier_object_with_its_tokenizer(classifier_folder: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(classifier_folder), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(classifier_folder), local_files_only=True)
    result = package(model, tokenizer=tokenizer, name="sentiment", version="1.0.0", out=tmp_path)
    manifest = result.manifest
    assert manifest.task == "text-classification" and manifest.labels == list(SENTIMENT_LABELS.values())
    assert manifest.probability_output == "scores"
    assert manifest.text is not None and manifest.text.max_length == 64
    assert any(check.metric == "label_agreement" for check in manifest.parity.checks)

    outputs, _ = run_bundle(result.directory, TEXTS)
    with torch.no_grad():
        logits = model(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits
    np.testing.assert_allclose(outputs["scores"], torch.softmax(logits, -1).numpy(), atol=1e-5)
    np.testing.assert_allclose(outputs["scores"].sum(axis=1), 1.0, atol=1e-5)


def test_multi_label_classifier_scores_are_sigmoids(models_dir: Path, tmp_path: Path) -> None:
    from tests.textmodels import save_hf_folder

    folder = save_hf_folder(models_dir / "multi", "sequence", multi_label=True)
    result = _cli(folder, "--name", "topics", "--version", "1.0.0", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    outputs, _ = run_bundle(tmp_path / "topics-1.0.0", TEXTS)
    np.testing.assert_allclose(outputs["scores"], 1 / (1 + np.exp(-outputs["logits"])), atol=1e-6)
    assert not np.allclose(outputs["scores"].sum(axis=1), 1.0)


def test_token_classifier_gives_per_token_scores(token_folder: Path, tmp_path: Path) -> None:
    result = _cli(
        token_folder, "--task", "token-classification", "--name", "ner", "--version", "1.0.0", "--out", tmp_path
    )
    assert result.exit_code == 0, result.output
    manifest = open_bundle(tmp_path / "ner-1.0.0").manifest
    assert manifest.labels == list(ENTITY_LABELS.values())
    assert manifest.probability_output == "scores"  # the manifest says which output holds per-label scores
    outputs, encoded = run_bundle(tmp_path / "ner-1.0.0", TEXTS)
    assert outputs["scores"].shape == (len(TEXTS), encoded.feed["input_ids"].shape[1], len(ENTITY_LABELS))
    assert {spec.name: spec.shape for spec in manifest.outputs}["scores"] == [None, None, len(ENTITY_LABELS)]


def test_a_bare_encoder_needs_task_and_packages_with_mean_pooling(base_folder: Path, tmp_path: Path) -> None:
    result = _cli(base_folder, "--name", "enc", "--version", "1.0.0", "--out", tmp_path)
    assert result.exit_code == 2 and "pass --task" in result.output
    assert not any(tmp_path.iterdir())
    result = _cli(base_folder, "--task", "feature-extraction", "--name", "enc", "--version", "1.0.0", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "mean pooling over the last hidden state" in result.output


def test_sample_texts_from_txt_and_jsonl(classifier_folder: Path, tmp_path: Path) -> None:
    (tmp_path / "texts.txt").write_text("first text\n\nsecond text\nthird one\n")
    (tmp_path / "texts.jsonl").write_text('"a json string"\n{"text": "an object"}\n')
    for name in ("texts.txt", "texts.jsonl"):
        version = "1.0.0" if name.endswith("txt") else "1.0.1"
        args = ("--sample", tmp_path / name, "--name", "s", "--version", version, "--out", tmp_path / "out")
        result = _cli(classifier_folder, *args)
        assert result.exit_code == 0, result.output
        assert f"sample texts from {name}" in result.output
    stored = open_bundle(tmp_path / "out" / "s-1.0.0").samples().inputs["text"].tolist()
    assert stored == ["first text", "second text", "third one"]
    (tmp_path / "bad.jsonl").write_text('{"txt": 1}\n')
    result = _cli(
        classifier_folder, "--sample", tmp_path / "bad.jsonl", "--name", "s", "--version", "2.0.0", "--out", tmp_path
    )
    assert (
        result.exit_code == 2 and 'line 1: each line must be a JSON string or an object with a "text"' in result.output
    )


def test_texts_longer_than_max_length_are_truncated_as_the_original_does(st_folder: Path, tmp_path: Path) -> None:
    long_text = "the weather in london is cold and the rain keeps going " * 20
    result = package(st_folder, name="trunc", version="1.0.0", out=tmp_path, sample=[long_text, "short text"])
    assert any("1 sample text(s) longer than max_length 32 tokens were truncated" in note for note in result.notes)
    _outputs, encoded = run_bundle(result.directory, [long_text, "short text"])
    assert encoded.feed["input_ids"].shape[1] == 32 and encoded.truncated == [True, False]
    assert result.parity.passed


def test_a_tokenizer_that_disagrees_fails_packaging_naming_text_and_token(
    classifier_folder: Path, tmp_path: Path
) -> None:
    folder = shutil.copytree(classifier_folder, tmp_path / "mismatch")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["do_lower_case"] = False  # transformers rebuilds the normalizer from this; tokenizer.json lowercases
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    result = _cli(
        folder,
        "--sample",
        _texts(tmp_path, ["all lower case", "The Cat"]),
        "--name",
        "m",
        "--version",
        "1.0.0",
        "--out",
        tmp_path / "out",
    )
    assert result.exit_code == 2, result.output
    assert "disagrees with the model's own tokenizer on text 1 'The Cat'" in result.output
    assert "token 1 is" in result.output and "'the'" in result.output and "'[UNK]'" in result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_text_options_on_a_tensor_model_are_refused(iris_pipeline, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match="for text models"):
        package(iris_pipeline, name="iris", version="1.0.0", out=tmp_path, task="text-classification")


def test_truncatable_embeddings_are_recorded_and_only_for_embedding_models(
    st_folder: Path, classifier_folder: Path, tmp_path: Path
) -> None:
    result = package(st_folder, name="mrl", version="1.0.0", out=tmp_path, truncatable_embeddings=True)
    assert result.manifest.embedding is not None and result.manifest.embedding.truncatable
    plain = package(st_folder, name="plain", version="1.0.0", out=tmp_path)
    assert plain.manifest.embedding is not None and not plain.manifest.embedding.truncatable
    with pytest.raises(
        InvalidRequestError, match="feature-extraction models; this one packages as text-classification"
    ):
        package(classifier_folder, name="cls", version="1.0.0", out=tmp_path / "cls", truncatable_embeddings=True)
    assert not (tmp_path / "cls").exists()


def _texts(tmp_path: Path, texts: list[str]) -> Path:
    path = tmp_path / "sample.txt"
    path.write_text("\n".join(texts) + "\n")
    return path


def test_a_text_bundle_reproduces_its_stored_samples_and_a_tampered_one_does_not(
    st_folder: Path, tmp_path: Path
) -> None:
    from bundle.judge import judge, local_runner
    from model_packager.parity import run_onnx

    result = package(st_folder, name="again", version="1.0.0", out=tmp_path, quantize="int8")
    bundle = open_bundle(result.directory)
    samples = bundle.samples()

    def run(feed):  # type: ignore[no-untyped-def]
        return run_onnx(bundle.model_path.read_bytes(), feed)

    runner = local_runner(bundle.manifest, bundle.root, run)
    verdict = judge(bundle.manifest, bundle.root, samples, runner)
    report, failures = verdict.report, verdict.problems
    assert failures == [] and report.sample_count == len(BUILTIN_TEXTS)
    assert {c.metric: c.tolerance for c in report.checks}["min_cosine"] == 0.99  # the int8 gate, from the manifest
    samples.outputs["sentence_embedding"] = samples.outputs["sentence_embedding"][::-1].copy()
    failures = judge(bundle.manifest, bundle.root, samples, runner).problems
    assert any("cosine" in failure for failure in failures)
