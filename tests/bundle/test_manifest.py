"""The manifest schema refuses what a runtime must not guess about."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bundle import BundleFormatError, dump_manifest, load_manifest
from tests.bundle.conftest import make_manifest


def _raw(**changes: object) -> bytes:
    data = orjson.loads(dump_manifest(make_manifest()))
    data.update(changes)
    return orjson.dumps(data)


def test_round_trip_is_deterministic() -> None:
    manifest = make_manifest()
    assert load_manifest(dump_manifest(manifest)) == manifest
    assert dump_manifest(manifest) == dump_manifest(load_manifest(dump_manifest(manifest)))


def test_unknown_top_level_key_is_refused_by_name() -> None:
    with pytest.raises(BundleFormatError, match="surprise"):
        load_manifest(_raw(surprise=1))


def test_other_format_version_says_what_to_do() -> None:
    with pytest.raises(BundleFormatError, match="format_version 2.*Repackage"):
        load_manifest(_raw(format_version=2))


@pytest.mark.parametrize("name", ["Bad_Name", "-lead", "a" * 49, ""])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(BundleFormatError, match="name"):
        load_manifest(_raw(name=name))


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "01.2.3"])
def test_non_semver_versions_are_refused(version: str) -> None:
    with pytest.raises(BundleFormatError, match="version"):
        load_manifest(_raw(version=version))


def test_file_names_cannot_escape_the_bundle() -> None:
    files = {"model.onnx": {"sha256": "0" * 64, "size": 1}, "../etc": {"sha256": "0" * 64, "size": 1}}
    with pytest.raises(BundleFormatError, match="plain name"):
        load_manifest(_raw(files=files))


def test_not_json_is_a_format_error() -> None:
    with pytest.raises(BundleFormatError, match="not valid JSON"):
        load_manifest(b"{nope")


def _text_raw(task: str = "feature-extraction", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(dump_manifest(make_manifest()))
    sha = "a" * 64
    data["files"]["tokenizer.json"] = {"sha256": sha, "size": 10}
    data.update(
        task=task,
        text={
            "tokenizer_file": "tokenizer.json",
            "tokenizer_sha256": sha,
            "max_length": 128,
            "vocab_size": 30522,
            "pad_token_id": 0,
            "input_names": ["input_ids", "attention_mask"],
        },
        embedding={"dimensions": 3, "pooling": "mean", "normalized": True, "output": "y"}
        if task == "feature-extraction"
        else None,
    )
    data.update(changes)
    return data


def test_text_bundle_fields_round_trip() -> None:
    manifest = load_manifest(orjson.dumps(_text_raw()))
    assert manifest.task == "feature-extraction"
    assert manifest.text is not None and manifest.text.max_length == 128 and manifest.text.vocab_size == 30522
    assert manifest.embedding is not None and manifest.embedding.pooling == "mean" and manifest.embedding.normalized
    assert load_manifest(dump_manifest(manifest)) == manifest


def test_tensor_bundles_carry_no_text_fields() -> None:
    manifest = make_manifest()
    assert manifest.text is None and manifest.embedding is None and manifest.task == "other"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"text": None}, "needs a text spec"),
        ({"task": "classifier", "embedding": None}, "takes no"),
        ({"embedding": None}, "embedding spec goes with task feature-extraction"),
        ({"embedding": {"dimensions": 3, "pooling": "max", "normalized": True, "output": "y"}}, "pooling"),
        ({"embedding": {"dimensions": 3, "pooling": "cls", "normalized": False, "output": "nope"}}, "'nope'"),
    ],
)
def test_text_fields_must_fit_the_task(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(BundleFormatError, match=message):
        load_manifest(orjson.dumps(_text_raw(**changes)))


def test_text_spec_limits_and_tokenizer_checksum_are_checked() -> None:
    data = _text_raw("text-classification")
    data["text"]["input_names"] = ["attention_mask"]
    with pytest.raises(BundleFormatError, match="input_ids"):
        load_manifest(orjson.dumps(data))
    data = _text_raw("token-classification")
    data["text"]["tokenizer_sha256"] = "b" * 64
    with pytest.raises(BundleFormatError, match="tokenizer_sha256 is not the sha256 of tokenizer.json"):
        load_manifest(orjson.dumps(data))
    data = _text_raw("text-classification")
    del data["files"]["tokenizer.json"]
    with pytest.raises(BundleFormatError, match="files must list the tokenizer"):
        load_manifest(orjson.dumps(data))
    with pytest.raises(BundleFormatError, match="max_length"):
        load_manifest(orjson.dumps(_text_raw("text-classification", text={**_text_raw()["text"], "max_length": 0})))


def test_nonfinite_inputs_is_a_field_and_old_bundles_metadata_string_still_counts() -> None:
    manifest = make_manifest()
    assert not manifest.nonfinite_inputs and not manifest.allows_nonfinite
    assert manifest.model_copy(update={"nonfinite_inputs": True}).allows_nonfinite
    legacy = manifest.model_copy(update={"metadata": {"allow_nonfinite": "True"}})
    assert legacy.allows_nonfinite and not legacy.nonfinite_inputs
    dumped = load_manifest(dump_manifest(manifest.model_copy(update={"nonfinite_inputs": True})))
    assert dumped.nonfinite_inputs
