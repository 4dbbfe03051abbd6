"""maaskit package / verify / inspect through the real typer app: exit codes, messages, no partial bundles."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from maaskit.cli import app

runner = CliRunner()


def invoke(*args: object):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(arg) for arg in args])


@pytest.fixture()
def sample_file(iris, tmp_path):
    path = tmp_path / "sample.npy"
    np.save(path, iris[0][:10])
    return path


def _package(model: object, out: object, *extra: object):  # type: ignore[no-untyped-def]
    return invoke("package", model, "--name", "iris", "--version", "1.0.0", "--out", out, *extra)


def test_package_verify_inspect_roundtrip(iris_file, sample_file, tmp_path):
    out = tmp_path / "bundles"
    result = _package(iris_file, out, "--sample", sample_file, "--metadata", "team=ml", "--metadata", "ticket=42")
    assert result.exit_code == 0, result.output
    assert "parity  passed on 10 samples" in result.stdout
    assert "label label_agreement 1" in result.stdout

    verified = invoke("verify", out / "iris-1.0.0.tar.gz")
    assert verified.exit_code == 0, verified.output
    assert "iris-1.0.0: verified" in verified.stdout

    shown = invoke("inspect", out / "iris-1.0.0", "--json")
    assert shown.exit_code == 0
    data = json.loads(shown.stdout)
    assert data["checksums_ok"] is True
    assert data["manifest"]["labels"] == [0, 1, 2]
    assert data["manifest"]["metadata"] == {"team": "ml", "ticket": "42"}

    table = invoke("inspect", out / "iris-1.0.0.tar.gz")
    assert table.exit_code == 0
    for text in ("signature", "probabilities", "label_agreement", "skl2onnx", "git commit"):
        assert text in table.stdout


def test_package_json_output_and_generated_sample_message(iris_file, tmp_path):
    result = _package(iris_file, tmp_path, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True and Path(data["archive"]).is_file()
    assert any("generated" in note for note in data["notes"])

    plain = invoke("package", iris_file, "--name", "iris", "--version", "1.0.1", "--out", tmp_path)
    assert "note: no sample given: generated 8 rows" in plain.stderr


def test_quiet_prints_nothing(iris_file, tmp_path):
    result = _package(iris_file, tmp_path, "--quiet")
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""


def test_one_altered_byte_in_model_fails_verify(iris_file, tmp_path):
    assert _package(iris_file, tmp_path).exit_code == 0
    model = tmp_path / "iris-1.0.0" / "model.onnx"
    payload = bytearray(model.read_bytes())
    payload[len(payload) // 2] ^= 0x01
    model.write_bytes(bytes(payload))
    result = invoke("verify", tmp_path / "iris-1.0.0", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    failed = [step for step in data["steps"] if not step["passed"]]
    assert failed[0]["name"] == "checksums" and "model.onnx does not match its sha256" in failed[0]["detail"]
    assert "MISMATCH" in invoke("inspect", tmp_path / "iris-1.0.0").stdout


def test_altered_sample_outputs_fail_verify_samples_step(iris_file, tmp_path):
    """A bundle whose checksums were recomputed after tampering still fails: the samples step re-runs the model."""
    from bundle import open_bundle
    from bundle.samples import samples_bytes
    from bundle.writer import write_bundle

    assert _package(iris_file, tmp_path / "a").exit_code == 0
    bundle = open_bundle(tmp_path / "a" / "iris-1.0.0")
    samples = bundle.samples()
    outputs = dict(samples.outputs, probabilities=samples.outputs["probabilities"] + 0.01)
    assert samples_bytes(samples.inputs, outputs)
    write_bundle(tmp_path / "b", bundle.manifest, bundle.model_path.read_bytes(), samples.inputs, outputs)
    result = invoke("verify", tmp_path / "b" / "iris-1.0.0")
    assert result.exit_code == 1
    assert "FAIL samples: output 'probabilities': worst element" in result.stdout


def test_parity_failure_exit_1_names_output_and_no_bundle(iris_file, tmp_path):
    result = _package(iris_file, tmp_path / "out", "--atol", "0", "--rtol", "0")
    assert result.exit_code == 1
    assert "parity failed" in result.stderr and "output 'probabilities': worst element [" in result.stderr
    assert "onnxruntime" in result.stderr and "vs original" in result.stderr and "no bundle written" in result.stderr
    assert not (tmp_path / "out").exists()


def _assert_bad_input(result, message: str, out: Path) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir())


def test_unknown_file_kind(tmp_path):
    model = tmp_path / "model.bin"
    model.write_bytes(b"\x00\x01 not a model")
    result = _package(model, tmp_path / "out")
    _assert_bad_input(result, "cannot tell what model model.bin is", tmp_path / "out")
    assert "sklearn:" in result.stderr  # lists what is supported


def test_missing_model_file(tmp_path):
    _assert_bad_input(_package(tmp_path / "nope.joblib", tmp_path / "out"), "does not exist", tmp_path / "out")


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupted_pickle(iris_pipeline, tmp_path, damage):
    model = tmp_path / "model.pkl"
    payload = pickle.dumps(iris_pipeline)
    model.write_bytes(payload[: len(payload) // 2] if damage == "truncated" else b"\x80\x04garbage" + os.urandom(64))
    _assert_bad_input(_package(model, tmp_path / "out"), "is not a readable pickle/joblib file", tmp_path / "out")


def test_pickle_of_unsupported_type(tmp_path):
    model = tmp_path / "model.pkl"
    model.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    result = _package(model, tmp_path / "out")
    _assert_bad_input(result, "no converter handles a builtins.dict. Supported:", tmp_path / "out")


def test_unknown_framework_override(iris_file, tmp_path):
    _assert_bad_input(
        _package(iris_file, tmp_path / "out", "--framework", "caffe"), "unknown framework 'caffe'", tmp_path / "out"
    )


@pytest.mark.parametrize(
    ("name", "version", "message"),
    [("Iris!", "1.0.0", "invalid name 'Iris!'"), ("iris", "1.0", "invalid version '1.0'")],
)
def test_invalid_name_version(iris_file, tmp_path, name, version, message):
    result = invoke("package", iris_file, "--name", name, "--version", version, "--out", tmp_path / "out")
    _assert_bad_input(result, message, tmp_path / "out")


def test_sample_that_does_not_fit(iris_file, tmp_path):
    sample = tmp_path / "bad.npy"
    np.save(sample, np.zeros((4, 5)))
    _assert_bad_input(
        _package(iris_file, tmp_path / "out", "--sample", sample),
        "5 features per row, the model takes 4",
        tmp_path / "out",
    )


def test_unreadable_sample_file(iris_file, tmp_path):
    sample = tmp_path / "bad.npy"
    sample.write_bytes(b"nonsense")
    _assert_bad_input(
        _package(iris_file, tmp_path / "out", "--sample", sample), "sample bad.npy cannot be read", tmp_path / "out"
    )


def test_existing_version_then_force(iris_file, tmp_path):
    out = tmp_path / "out"
    assert _package(iris_file, out).exit_code == 0
    before = sorted(p.name for p in out.iterdir())
    result = _package(iris_file, out)
    assert result.exit_code == 2 and "already exists" in result.stderr and "--force" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == before
    assert _package(iris_file, out, "--force").exit_code == 0


def test_unwritable_output_directory(iris_file, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = _package(iris_file, blocker / "bundles")
    assert result.exit_code == 2 and "is a file" in result.stderr
    assert blocker.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_output_directory(iris_file, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = _package(iris_file, locked)
    assert result.exit_code == 2 and "not writable" in result.stderr
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize(
    "option", [["--optimize", "all"], ["--quantize", "int4"], ["--min-label-agreement", "2"], ["--metadata", "novalue"]]
)
def test_bad_options(iris_file, tmp_path, option):
    result = _package(iris_file, tmp_path / "out", *option)
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
    assert not (tmp_path / "out").exists()


def test_verify_and_inspect_missing_bundle(tmp_path):
    for command in ("verify", "inspect"):
        result = invoke(command, tmp_path / "missing.tar.gz")
        assert result.exit_code == 2 and "does not exist" in result.stderr


def test_verify_non_archive_file(tmp_path):
    bogus = tmp_path / "bundle.tar.gz"
    bogus.write_bytes(b"not gzip")
    result = invoke("verify", bogus)
    assert result.exit_code == 1 and "not a readable bundle archive" in result.stdout


def test_pickle_needing_a_missing_framework_names_the_extra(iris, tmp_path, monkeypatch):
    import sys

    import lightgbm as lgb

    model = lgb.LGBMClassifier(n_estimators=2, verbose=-1).fit(*iris)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    for name in [m for m in sys.modules if m == "lightgbm" or m.startswith("lightgbm.")]:
        monkeypatch.setitem(sys.modules, name, None)  # as if lightgbm were not installed
    result = _package(path, tmp_path / "out")
    _assert_bad_input(result, "pip install 'maaskit[lightgbm]'", tmp_path / "out")


def test_unexpected_converter_failure_is_one_line(iris_file, tmp_path, monkeypatch):
    from model_packager.converters import sklearn as sklearn_converter

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(sklearn_converter.SklearnConverter, "convert_as", explode)
    result = _package(iris_file, tmp_path / "out")
    assert result.exit_code == 3
    first, second = result.stderr.strip().splitlines()
    assert first == "error: unexpected RuntimeError while packaging: boom (a bug: please report it)"
    log = second.removeprefix("  details: ").removesuffix(" (or rerun with --debug)")
    assert "Traceback" in Path(log).read_text() and "boom" in Path(log).read_text()
    assert not (tmp_path / "out").exists()
