"""Resolve an endpoint's ``bundle`` reference into what the constructs need: files, identity, samples."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bundle.manifest import Resources
from infra.config import ConfigError

__all__ = ["BundleSource", "resolve_bundle"]


@dataclass(frozen=True)
class BundleSource:
    """A bundle ready for packaging.

    ``directory`` is the verified, extracted bundle (None for an ``s3://`` reference); ``archive``
    the deterministic ``.tar.gz`` (SageMaker model data); ``digest`` identifies the content and
    changes with every new bundle (it names Lambda versions and SageMaker models).
    """

    name: str
    version: str
    digest: str
    directory: Path | None
    archive: Path | None
    s3_uri: str | None = None
    size: int = 0
    """Bytes of the bundle's files (from the manifest): what the Lambda package or image must hold."""
    resources: Resources | None = None
    """Resident memory and time to ready measured at packaging, when the bundle has them."""
    task: str = "other"
    """The manifest's task (``feature-extraction`` bundles also get the OpenAI routes)."""

    @property
    def label(self) -> str:
        """``name@version`` for descriptions and messages."""
        return f"{self.name}@{self.version}"


def _archive_for(directory: Path, build_root: Path) -> Path:
    """The sibling ``<dir>.tar.gz`` when present, else a deterministic archive built under ``build_root``."""
    from bundle import file_sha256
    from bundle.archive import write_archive

    sibling = directory.with_name(directory.name + ".tar.gz")
    if sibling.is_file():
        return sibling
    files = {path.name: path for path in sorted(directory.iterdir()) if path.is_file()}
    (build_root / "archives").mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=build_root / "archives", prefix=".archive.")
    os.close(handle)
    try:  # streamed from the files: a bundle with multi-GB external weights is never held in memory
        write_archive(files, Path(temp))
        target = build_root / "archives" / f"{directory.name}-{file_sha256(Path(temp))[:12]}.tar.gz"
        os.replace(temp, target)
    finally:
        Path(temp).unlink(missing_ok=True)
    return target


def _extracted(archive: Path, build_root: Path) -> Path:
    """Extract ``archive`` once under ``build_root`` (keyed by its sha256) and return the directory."""
    from bundle import file_sha256
    from bundle.archive import extract_archive

    target = build_root / "extracted" / file_sha256(archive)[:16] / archive.name.removesuffix(".tar.gz")
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".extract."))
        try:
            extract_archive(archive, staging)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _pull_from_registry(ref: str, endpoint: str, build_root: Path, stage: str | None) -> Path:
    """Pull ``registry:name@version`` from the stage's model registry (verified) and return the archive."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        from infra.ops.errors import OpsError
        from infra.ops.registry import resolve_bundle_ref
    except ImportError:
        raise ConfigError(
            f"endpoints.{endpoint}.bundle: {ref} needs boto3 to read the registry; pip install 'maaskit[aws]'"
        ) from None
    try:
        return resolve_bundle_ref(ref, stage=stage, cache_dir=build_root / "registry")
    except (OpsError, BotoCoreError, ClientError) as exc:
        raise ConfigError(f"endpoints.{endpoint}.bundle: cannot pull {ref} from the registry: {exc}") from None


def resolve_bundle(ref: str, endpoint: str, base_dir: Path, build_root: Path, stage: str | None = None) -> BundleSource:
    """Open, verify and describe the bundle ``ref`` of ``endpoint``; raise ConfigError with the fix.

    ``registry:name@version`` refs are pulled from ``stage``'s registry bucket (see ``maaskit push``).
    """
    from bundle import BundleError, open_bundle

    if ref.startswith("s3://"):
        digest = hashlib.sha256(ref.encode()).hexdigest()
        return BundleSource(endpoint, "s3", digest, None, None, s3_uri=ref)
    if ref.startswith("registry:"):
        ref = str(_pull_from_registry(ref, endpoint, build_root, stage))
    path = Path(ref) if Path(ref).is_absolute() else base_dir / ref
    try:
        if path.is_file():
            directory = _extracted(path, build_root)
            bundle = open_bundle(directory)
            archive = path
        else:
            bundle = open_bundle(path)
            directory = bundle.root
            archive = _archive_for(directory, build_root)
    except BundleError as exc:
        raise ConfigError(f"endpoints.{endpoint}.bundle: {exc}") from None
    if bundle.manifest.name != endpoint:
        raise ConfigError(
            f"endpoints.{endpoint}.bundle holds model {bundle.manifest.name!r}; the endpoint name must be the "
            f"model name (routes are /models/<name>/...). Rename the endpoint to {bundle.manifest.name!r}."
        )
    digest = hashlib.sha256((directory / "manifest.json").read_bytes()).hexdigest()
    size = sum(entry.size for entry in bundle.manifest.files.values())
    manifest = bundle.manifest
    return BundleSource(
        manifest.name, manifest.version, digest, directory, archive, None, size, manifest.resources, manifest.task
    )
