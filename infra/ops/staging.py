"""Local files for the registry: the archive of a bundle to push, the atomic landing of a pull."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bundle import MANIFEST_FILE, Bundle, BundleError, file_sha256, open_bundle
from bundle.archive import write_archive
from infra.ops.errors import OpsError

__all__ = ["LocalBundle", "land", "local_bundle", "manifest_digest", "staging_dir"]


@dataclass(frozen=True)
class LocalBundle:
    """A verified bundle ready to push: its archive on disk and its identity."""

    name: str
    version: str
    archive: Path
    archive_sha256: str
    manifest_bytes: bytes

    @property
    def manifest_sha256(self) -> str:
        """Digest of manifest.json: it pins every file's sha256, so it identifies the content."""
        return manifest_digest(self.manifest_bytes)


def manifest_digest(raw: bytes) -> str:
    """sha256 of manifest.json bytes."""
    return hashlib.sha256(raw).hexdigest()


@contextmanager
def staging_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A temporary directory inside ``parent`` (same filesystem, so renames are atomic), removed after."""
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _open(path: Path, extract_to: Path | None = None) -> Bundle:
    try:
        return open_bundle(path, extract_to=extract_to)
    except BundleError as exc:
        raise OpsError(f"{path} is not a valid bundle: {exc}") from None


@contextmanager
def local_bundle(path: Path) -> Iterator[LocalBundle]:
    """Verify the bundle at ``path`` (directory or .tar.gz) and yield its archive.

    A directory is archived the way the bundle writer does it (deterministic bytes), in a
    temporary file removed on exit.
    """
    with tempfile.TemporaryDirectory(prefix="maaskit-push-") as scratch:
        scratch_dir = Path(scratch)
        if path.is_dir():
            bundle = _open(path)
            names = [*bundle.manifest.files, MANIFEST_FILE]
            archive = scratch_dir / "bundle.tar.gz"
            write_archive({name: bundle.root / name for name in names}, archive)  # streamed: weights may be GBs
        else:
            bundle = _open(path, extract_to=scratch_dir / "extracted")
            archive = path
        manifest_bytes = (bundle.root / MANIFEST_FILE).read_bytes()
        yield LocalBundle(
            name=bundle.manifest.name,
            version=bundle.manifest.version,
            archive=archive,
            archive_sha256=file_sha256(archive),
            manifest_bytes=manifest_bytes,
        )


def land(archive: Path, out_dir: Path, name: str, version: str, expected_manifest_sha: str | None) -> tuple[Path, Path]:
    """Verify a downloaded archive and move it with its extracted directory into ``out_dir`` atomically.

    Returns ``(archive_path, directory_path)`` named ``<name>-<version>[.tar.gz]`` like the bundle writer.
    """
    key = f"{name}-{version}"
    final_archive, final_dir = out_dir / f"{key}.tar.gz", out_dir / key
    staged_dir = archive.parent / "bundle"
    bundle = _open(archive, extract_to=staged_dir)
    if (bundle.manifest.name, bundle.manifest.version) != (name, version):
        raise OpsError(
            f"the registry object for {name} {version} holds {bundle.manifest.name} {bundle.manifest.version}; "
            "the registry is corrupt: push the right bundle under a new version"
        )
    digest = manifest_digest((staged_dir / MANIFEST_FILE).read_bytes())
    if expected_manifest_sha is not None and digest != expected_manifest_sha:
        raise OpsError(
            f"the archive of {name} {version} does not match the manifest stored beside it; "
            "the upload was altered or interrupted: push the bundle again under a new version"
        )
    if final_dir.is_dir():  # move the old copy aside first: the new one appears in one rename
        os.replace(final_dir, archive.parent / "replaced")
    os.replace(staged_dir, final_dir)
    os.replace(archive, final_archive)
    return final_archive, final_dir
