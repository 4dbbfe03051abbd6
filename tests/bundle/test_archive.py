"""Archives that try to escape, link or bomb are refused before anything is written."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from bundle import BundleError, UnsafeArchiveError, open_bundle
from bundle.archive import extract_archive


def _tar(path: Path, members: list[tarfile.TarInfo], payload: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(payload) if info.isfile() else None)
    return path


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 1
    return info


def test_member_escaping_the_target_is_refused(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "evil.tar.gz", [_file("../escaped.txt")])
    with pytest.raises(UnsafeArchiveError, match="outside"):
        extract_archive(archive, tmp_path / "target")
    assert not (tmp_path / "escaped.txt").exists()


def test_symlink_member_is_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("model.onnx")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    archive = _tar(tmp_path / "link.tar.gz", [link])
    with pytest.raises(UnsafeArchiveError, match="link"):
        open_bundle(archive, extract_to=tmp_path / "target")


def test_truncated_archive_is_a_clear_error(written_bundle, tmp_path: Path) -> None:
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(written_bundle.archive.read_bytes()[:200])
    with pytest.raises(BundleError, match="not a readable bundle archive"):
        open_bundle(broken, extract_to=tmp_path / "target")
