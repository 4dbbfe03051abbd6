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

from bundle.archive import Payload, write_archive
from bundle.errors import BundleError, BundleFormatError
from bundle.manifest import FileEntry, Manifest, dump_manifest
from bundle.reader import MANIFEST_FILE, MODEL_FILE, SAMPLES_FILE, file_sha256
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


def _entry(payload: Payload) -> FileEntry:
    if isinstance(payload, Path):
        return FileEntry(sha256=file_sha256(payload), size=payload.stat().st_size)
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
    model: bytes | Path,
    sample_inputs: dict[str, np.ndarray],
    sample_outputs: dict[str, np.ndarray],
    *,
    force: bool = False,
    extra_files: Mapping[str, bytes] | None = None,
    data_files: Mapping[str, Path] | None = None,
) -> BundlePaths:
    """Write ``<name>-<version>/`` and ``<name>-<version>.tar.gz`` under ``out_dir``.

    ``model`` is the model.onnx bytes, or the path of a model.onnx written elsewhere; ``data_files``
    (bundle name -> path, e.g. ``{"model.onnx.data": ...}``) are its external weights. Files given by
    path are MOVED into the bundle and read in chunks, never held in memory (models over 2 GB).
    ``extra_files`` are processing files that travel with the model (``tokenizer.json``, ...), by
    plain file name. The manifest's ``files`` is filled in here from the files actually written,
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
    extra: dict[str, Payload] = {**dict(extra_files or {}), **dict(data_files or {})}
    clashing = sorted(set(extra) & {MODEL_FILE, SAMPLES_FILE, MANIFEST_FILE})
    if clashing:
        raise BundleError(f"extra bundle files may not replace {clashing}")
    contents: dict[str, Payload] = {MODEL_FILE: model, SAMPLES_FILE: samples, **extra}

    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{paths.directory.name}.", dir=out_dir))
    try:
        staged_dir = staging / "bundle"
        staged_dir.mkdir()
        for name, payload in contents.items():
            if isinstance(payload, bytes):
                (staged_dir / name).write_bytes(payload)
            else:
                shutil.move(payload, staged_dir / name)
        staged = {name: staged_dir / name for name in contents}
        files = {name: _entry(path).model_dump() for name, path in sorted(staged.items())}
        try:
            final = Manifest.model_validate({**manifest.model_dump(), "files": files})
        except ValidationError as exc:
            message = exc.errors()[0]["msg"]
            raise BundleFormatError(f"the manifest does not fit the files written: {message}") from None
        (staged_dir / MANIFEST_FILE).write_bytes(dump_manifest(final))
        staged_archive = staging / "bundle.tar.gz"
        write_archive({**staged, MANIFEST_FILE: staged_dir / MANIFEST_FILE}, staged_archive)
        _place(staging, staged_dir, staged_archive, paths)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return paths
