"""Write a bundle directory and its deterministic archive, atomically.

Everything is first written under a temporary name in the output directory and
renamed into place at the end, so a failure never leaves half a bundle behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from bundle.archive import archive_bytes
from bundle.errors import BundleError, BundleFormatError
from bundle.manifest import FileEntry, Manifest, dump_manifest
from bundle.reader import MANIFEST_FILE, MODEL_FILE, SAMPLES_FILE
from bundle.samples import samples_bytes

__all__ = ["BundleExistsError", "BundlePaths", "bundle_paths", "write_bundle"]


class BundleExistsError(BundleError):
    """The bundle version is already on disk and overwriting was not asked for."""


class BundlePaths:
    """Where a bundle ``name-version`` lives under an output directory."""

    def __init__(self, out_dir: Path, name: str, version: str) -> None:
        self.directory = out_dir / f"{name}-{version}"
        self.archive = out_dir / f"{name}-{version}.tar.gz"


def bundle_paths(out_dir: Path, name: str, version: str) -> BundlePaths:
    """The directory and archive paths of a bundle under ``out_dir``."""
    return BundlePaths(out_dir, name, version)


def _entry(payload: bytes) -> FileEntry:
    return FileEntry(sha256=hashlib.sha256(payload).hexdigest(), size=len(payload))


def _place(staging: Path, staged_dir: Path, staged_archive: Path, paths: BundlePaths) -> None:
    """Move the staged bundle into place; on failure restore what was there (``--force``) and leave no half."""
    previous = staging / "previous"
    previous.mkdir()
    moved_aside = []
    for path in (paths.directory, paths.archive):
        if path.exists():
            os.replace(path, previous / path.name)
            moved_aside.append(path)
    placed: list[Path] = []
    try:
        os.replace(staged_dir, paths.directory)
        placed.append(paths.directory)
        os.replace(staged_archive, paths.archive)
    except BaseException:  # no directory without its archive: half a bundle is none
        for path in placed:
            shutil.rmtree(path, ignore_errors=True)
        for path in moved_aside:
            os.replace(previous / path.name, path)
        raise


def write_bundle(
    out_dir: Path,
    manifest: Manifest,
    model_bytes: bytes,
    sample_inputs: dict[str, np.ndarray],
    sample_outputs: dict[str, np.ndarray],
    *,
    force: bool = False,
    extra_files: Mapping[str, bytes] | None = None,
) -> BundlePaths:
    """Write ``<name>-<version>/`` and ``<name>-<version>.tar.gz`` under ``out_dir``.

    ``extra_files`` are processing files that travel with the model (``tokenizer.json``, ...), by
    plain file name. The manifest's ``files`` is filled in here from the bytes actually written,
    and the manifest is validated again with them.
    Raises BundleExistsError when the version exists and ``force`` is false.
    """
    paths = bundle_paths(out_dir, manifest.name, manifest.version)
    if not force and (paths.directory.exists() or paths.archive.exists()):
        raise BundleExistsError(
            f"bundle {manifest.name} {manifest.version} already exists in {out_dir}; "
            "bump the version or pass --force to replace it"
        )
    samples = samples_bytes(sample_inputs, sample_outputs)
    extras = dict(extra_files or {})
    clashing = sorted(set(extras) & {MODEL_FILE, SAMPLES_FILE, MANIFEST_FILE})
    if clashing:
        raise BundleError(f"extra bundle files may not replace {clashing}")
    files = {MODEL_FILE: _entry(model_bytes), SAMPLES_FILE: _entry(samples)}
    files.update({name: _entry(payload) for name, payload in sorted(extras.items())})
    try:
        final = Manifest.model_validate({**manifest.model_dump(), "files": files})
    except ValidationError as exc:
        raise BundleFormatError(f"the manifest does not fit the files written: {exc.errors()[0]['msg']}") from None
    contents = {MODEL_FILE: model_bytes, SAMPLES_FILE: samples, **extras, MANIFEST_FILE: dump_manifest(final)}

    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{paths.directory.name}.", dir=out_dir))
    try:
        staged_dir = staging / "bundle"
        staged_dir.mkdir()
        for name, payload in contents.items():
            (staged_dir / name).write_bytes(payload)
        staged_archive = staging / "bundle.tar.gz"
        staged_archive.write_bytes(archive_bytes(contents))
        _place(staging, staged_dir, staged_archive, paths)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return paths
