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
from pathlib import Path

from bundle.errors import BundleError, UnsafeArchiveError

__all__ = ["ARCHIVE_MTIME", "archive_bytes", "extract_archive"]

#: 1980-01-01T00:00:00Z: fixed member mtime so equal inputs give equal bytes.
ARCHIVE_MTIME = 315532800
#: Refuse archives that would unpack to more than this (zip-bomb guard).
MAX_UNPACKED_BYTES = 10 * 1024**3


def archive_bytes(files: dict[str, bytes]) -> bytes:
    """Build a gzip'd tar of ``files`` with sorted members, fixed mtimes and root owner."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            payload = files[name]
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            info.mtime = ARCHIVE_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(payload))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return compressed.getvalue()


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
