"""Round trip through the bundle contract: write, archive, open, verify."""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from bundle import BundleIntegrityError, open_bundle
from bundle.writer import BundleExistsError, write_bundle
from tests.bundle.conftest import double_model_bytes, make_manifest


def test_written_directory_and_archive_open_with_the_same_manifest(written_bundle, tmp_path: Path) -> None:
    from_dir = open_bundle(written_bundle.directory)
    from_archive = open_bundle(written_bundle.archive, extract_to=tmp_path / "x")
    assert from_dir.manifest == from_archive.manifest
    entry = from_dir.manifest.files["model.onnx"]
    assert entry.sha256 == hashlib.sha256(double_model_bytes()).hexdigest()
    samples = from_archive.samples()
    np.testing.assert_array_equal(samples.outputs["y"], samples.inputs["x"] * 2)
    assert samples.count == 2


def test_archive_members_sit_at_the_root_as_sagemaker_expects(written_bundle) -> None:
    with tarfile.open(written_bundle.archive) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["manifest.json", "model.onnx", "samples.npz"]
    assert {m.mtime for m in members} == {315532800}
    assert {(m.uid, m.gid) for m in members} == {(0, 0)}


def test_same_content_gives_byte_identical_archives(tmp_path: Path) -> None:
    x = np.ones((1, 3), dtype=np.float32)
    first = write_bundle(tmp_path / "a", make_manifest(), double_model_bytes(), {"x": x}, {"y": x * 2})
    second = write_bundle(tmp_path / "b", make_manifest(), double_model_bytes(), {"x": x}, {"y": x * 2})
    assert first.archive.read_bytes() == second.archive.read_bytes()


def test_existing_version_is_refused_unless_forced(written_bundle) -> None:
    out = written_bundle.directory.parent
    x = np.zeros((1, 3), dtype=np.float32)
    with pytest.raises(BundleExistsError, match="--force"):
        write_bundle(out, make_manifest(), double_model_bytes(), {"x": x}, {"y": x})
    write_bundle(out, make_manifest(), double_model_bytes(), {"x": x}, {"y": x}, force=True)
    assert open_bundle(written_bundle.directory).samples().count == 1
    assert sorted(p.name for p in out.iterdir()) == ["double-1.0.0", "double-1.0.0.tar.gz"]


def test_one_altered_byte_in_the_model_is_refused(written_bundle) -> None:
    model = written_bundle.directory / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match="model.onnx does not match its sha256"):
        open_bundle(written_bundle.directory)


def test_truncated_file_is_refused_with_sizes(written_bundle) -> None:
    samples = written_bundle.directory / "samples.npz"
    samples.write_bytes(samples.read_bytes()[:10])
    with pytest.raises(BundleIntegrityError, match="samples.npz is 10 bytes"):
        open_bundle(written_bundle.directory)


def test_missing_file_is_refused(written_bundle) -> None:
    (written_bundle.directory / "samples.npz").unlink()
    with pytest.raises(BundleIntegrityError, match="missing"):
        open_bundle(written_bundle.directory)


def test_failed_forced_replacement_keeps_the_previous_bundle(written_bundle, monkeypatch) -> None:
    out = written_bundle.directory.parent
    before = written_bundle.archive.read_bytes()
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst) == written_bundle.archive and "previous" not in str(src):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    x = np.zeros((1, 3), dtype=np.float32)
    with pytest.raises(OSError, match="No space left"):
        write_bundle(out, make_manifest(), double_model_bytes(), {"x": x}, {"y": x}, force=True)
    monkeypatch.undo()
    assert written_bundle.archive.read_bytes() == before
    assert open_bundle(written_bundle.directory).samples().count == 2
    assert sorted(p.name for p in out.iterdir()) == ["double-1.0.0", "double-1.0.0.tar.gz"]


def test_processing_files_travel_checksummed_in_directory_and_archive(tmp_path: Path) -> None:
    tokenizer = b'{"version": "1.0"}'
    x = np.ones((1, 3), dtype=np.float32)
    paths = write_bundle(
        tmp_path,
        make_manifest(),
        double_model_bytes(),
        {"x": x},
        {"y": x + x},
        extra_files={"tokenizer.json": tokenizer},
    )
    opened = open_bundle(paths.archive, extract_to=tmp_path / "x")
    assert opened.manifest.files["tokenizer.json"].sha256 == hashlib.sha256(tokenizer).hexdigest()
    assert (opened.root / "tokenizer.json").read_bytes() == tokenizer
    (paths.directory / "tokenizer.json").write_bytes(b'{"version": "2.0"}')
    with pytest.raises(BundleIntegrityError, match=r"tokenizer\.json"):
        open_bundle(paths.directory)


def test_processing_files_cannot_replace_bundle_files(tmp_path: Path) -> None:
    from bundle import BundleError

    x = np.ones((1, 3), dtype=np.float32)
    with pytest.raises(BundleError, match="may not replace"):
        write_bundle(
            tmp_path, make_manifest(), double_model_bytes(), {"x": x}, {"y": x}, extra_files={"model.onnx": b""}
        )
    assert not any(tmp_path.iterdir())
