"""Deterministic bundle archives and their safe extraction.

The archive holds the bundle files at its root, so it is also a valid
SageMaker ``model.tar.gz`` (extracted to ``/opt/ml/model``).
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from bundle.errors import BundleError, UnsafeArchiveError

__all__ = [
    "ARCHIVE_MTIME",
    "STORED_ABOVE_BYTES",
    "Payload",
    "archive_bytes",
    "compress_level",
    "extract_archive",
    "write_archive",
]

#: 1980-01-01T00:00:00Z: fixed member mtime so equal inputs give equal bytes.
ARCHIVE_MTIME = 315532800
#: Refuse archives that would unpack to more than this (zip-bomb guard).
MAX_UNPACKED_BYTES = 10 * 1024**3


#: Float weights deflate by only ~7%, slowly (0.5 GB took 275 s at level 9 on a shared CPU): archives
#: whose contents exceed this are written as stored gzip (level 0), smaller ones at level 9. Chosen
#: from the sizes alone, so the same files always give the same bytes.
STORED_ABOVE_BYTES = 256 * 1024**2
_COPY_CHUNK = 8 * 1024 * 1024

#: A bundle file's content: bytes in memory, or a path read in chunks (multi-GB weights).
Payload = bytes | Path


def _size(payload: Payload) -> int:
    return len(payload) if isinstance(payload, bytes) else payload.stat().st_size


def compress_level(files: Mapping[str, Payload]) -> int:
    """The gzip level of an archive of ``files``: 9, or 0 (stored) above STORED_ABOVE_BYTES in total."""
    return 0 if sum(_size(payload) for payload in files.values()) > STORED_ABOVE_BYTES else 9


def _write_tar(stream: BinaryIO, files: Mapping[str, Payload]) -> None:
    """Write the gzip'd tar of ``files`` to ``stream``: sorted members, fixed mtimes, root owner."""
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=stream, mtime=0, compresslevel=compress_level(files)) as gz,
        tarfile.TarFile(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT, copybufsize=_COPY_CHUNK) as tar,
    ):
        for name in sorted(files):
            payload = files[name]
            info = tarfile.TarInfo(name)
            info.size = _size(payload)
            info.mtime = ARCHIVE_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if isinstance(payload, bytes):
                tar.addfile(info, io.BytesIO(payload))
            else:
                with payload.open("rb") as source:
                    tar.addfile(info, source)


def archive_bytes(files: Mapping[str, Payload]) -> bytes:
    """The deterministic archive of ``files`` in memory (small bundles; see ``write_archive``)."""
    compressed = io.BytesIO()
    _write_tar(compressed, files)
    return compressed.getvalue()


def write_archive(files: Mapping[str, Payload], target: Path) -> None:
    """Stream the deterministic archive of ``files`` to ``target`` (same bytes as ``archive_bytes``).

    Paths are read in chunks, so a multi-GB ``model.onnx.data`` is never held in memory.
    """
    with target.open("wb") as stream:
        _write_tar(stream, files)


def _check_member(member: tarfile.TarInfo, target: Path) -> None:
    if not (member.isfile() or member.isdir()):
        kind = "link" if (member.issym() or member.islnk()) else "special file"
        raise UnsafeArchiveError(f"archive member {member.name!r} is a {kind}; bundles hold regular files only")
    destination = (target / member.name).resolve()
    if destination != target and target not in destination.parents:
        raise UnsafeArchiveError(f"archive member {member.name!r} would be written outside {target}")


def extract_archive(archive: Path, target: Path) -> None:
    """Extract ``archive`` into ``target`` refusing links, devices and path escapes."""
    target = target.resolve()
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            members = tar.getmembers()
            total = 0
            for member in members:
                _check_member(member, target)
                total += max(member.size, 0)
            if total > MAX_UNPACKED_BYTES:
                raise UnsafeArchiveError(f"{archive.name} would unpack to {total} bytes, over the 10 GiB limit")
            tar.extractall(target, members=members, filter="data")
    except UnsafeArchiveError:
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise BundleError(
            f"{archive.name} is not a readable bundle archive ({exc}); re-download or repackage it"
        ) from None
    for path in target.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
