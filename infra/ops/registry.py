"""The model registry: bundles stored in S3 under ``<name>/<version>/``, immutable once pushed.

Layout per version: ``bundle.tar.gz`` (the deterministic bundle archive, also a SageMaker
``model.tar.gz``) then ``manifest.json``, written last: a version whose manifest is there is
complete. Object metadata records the sha256 of the archive and of the manifest.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bundle import NAME_PATTERN, SEMVER_PATTERN, Manifest, file_sha256, load_manifest, names
from bundle.manifest import ParityCheck
from bundle.parity import final_parity
from bundle.semver import semver_key
from infra.ops.aws import aws_errors
from infra.ops.errors import NotFoundError, OpsError, RegistryConflictError
from infra.ops.staging import land, local_bundle, manifest_digest, staging_dir

__all__ = [
    "ARCHIVE_OBJECT",
    "MANIFEST_OBJECT",
    "ModelSummary",
    "PullResult",
    "PushResult",
    "Registry",
    "RegistryVersion",
    "parse_registry_ref",
    "resolve_bundle_ref",
]

ARCHIVE_OBJECT = "bundle.tar.gz"
MANIFEST_OBJECT = "manifest.json"
_META_ARCHIVE = "maaskit-archive-sha256"
_META_MANIFEST = "maaskit-manifest-sha256"
_REF = re.compile(r"^registry:(?P<name>[^@\s]+)@(?P<version>\S+)$")
ENV_CACHE = names.CACHE_DIR


@dataclass(frozen=True)
class PushResult:
    """Outcome of a push; ``uploaded`` is False when the same content was already there."""

    name: str
    version: str
    bucket: str
    prefix: str
    size: int
    archive_sha256: str
    uploaded: bool


@dataclass(frozen=True)
class ModelSummary:
    """One model in the registry."""

    name: str
    versions: int
    latest: str
    last_pushed: datetime


@dataclass(frozen=True)
class RegistryVersion:
    """One stored version, as ``maaskit versions`` lists it."""

    name: str
    version: str
    size: int
    pushed: datetime
    manifest: Manifest

    @property
    def parity(self) -> str:
        """``passed``/``FAILED`` with the worst check of the final report (after optimization or int8, when
        applied: what the bundle's model.onnx does), e.g. ``passed (max_abs_diff 2e-07 <= 1e-05)``."""
        report = final_parity(self.manifest)
        verdict = "passed" if report.passed else "FAILED"
        if not report.checks:
            return verdict
        check = max(report.checks, key=lambda item: (not item.passed, tolerance_used(item)))
        return f"{verdict} ({check.metric} {check.measured:.3g} {check.relation} {check.tolerance:.3g})"


def tolerance_used(check: ParityCheck) -> float:
    """How much of its tolerance ``check`` used, for either relation: 0 exact, 1 at the tolerance, above 1 failing.

    ``<=`` metrics (differences): measured / tolerance. ``>=`` metrics (agreements, cosine, whose best is 1):
    the shortfall from 1 over the shortfall allowed, so a lower measured value ranks worse.
    """
    if check.relation == "<=":
        used, allowed = check.measured, check.tolerance
    else:
        used, allowed = 1.0 - check.measured, 1.0 - check.tolerance
    if allowed > 0:
        return max(used, 0.0) / allowed
    return math.inf if used > 0 else 0.0


@dataclass(frozen=True)
class PullResult:
    """Where a pulled bundle landed; ``downloaded`` is False when an identical copy was already there."""

    archive: Path
    directory: Path
    downloaded: bool


def _check_ref_parts(name: str, version: str) -> None:
    if not re.fullmatch(NAME_PATTERN, name):
        raise OpsError(f"model name {name!r} is not valid: lowercase letters, digits and inner hyphens")
    if not re.fullmatch(SEMVER_PATTERN, version):
        raise OpsError(f"version {version!r} is not a semantic version such as 1.2.0")


class Registry:
    """Push, list and pull bundles in one S3 bucket (the bucket's policy enforces SSE and TLS)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def _prefix(self, name: str, version: str) -> str:
        return f"{name}/{version}/"

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            head: dict[str, Any] = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return head

    def _bucket_missing(self, code: str) -> str:
        if code == "NoSuchBucket":
            return f"registry bucket {self.bucket!r} does not exist; check --bucket / the stage"
        return ""

    def push(self, bundle_path: Path) -> PushResult:
        """Upload a verified bundle; a no-op for identical content, RegistryConflictError for different."""
        with local_bundle(bundle_path) as local, aws_errors(f"pushing to s3://{self.bucket}", self._bucket_missing):
            prefix = self._prefix(local.name, local.version)
            size = local.archive.stat().st_size
            existing = self._head(prefix + MANIFEST_OBJECT)
            if existing is not None:
                stored = existing.get("Metadata", {}).get(_META_MANIFEST)
                if stored != local.manifest_sha256:
                    raise RegistryConflictError(
                        f"s3://{self.bucket}/{prefix} already holds {local.name} {local.version} with different "
                        "content; registry versions are immutable: bump the version and package again"
                    )
                archive_head = self._head(prefix + ARCHIVE_OBJECT) or {}
                size = int(archive_head.get("ContentLength", size))
                return PushResult(local.name, local.version, self.bucket, prefix, size, local.archive_sha256, False)
            metadata = {_META_ARCHIVE: local.archive_sha256, _META_MANIFEST: local.manifest_sha256}
            self.s3.upload_file(
                str(local.archive),
                self.bucket,
                prefix + ARCHIVE_OBJECT,
                ExtraArgs={"Metadata": metadata, "ContentType": "application/gzip", "ServerSideEncryption": "AES256"},
            )
            self.s3.put_object(
                Bucket=self.bucket,
                Key=prefix + MANIFEST_OBJECT,
                Body=local.manifest_bytes,
                ContentType="application/json",
                Metadata=metadata,
                ServerSideEncryption="AES256",  # the bucket policy refuses any other
            )
            return PushResult(local.name, local.version, self.bucket, prefix, size, local.archive_sha256, True)

    def _objects(self, prefix: str = "") -> list[dict[str, Any]]:
        objects: list[dict[str, Any]] = []
        with aws_errors(f"listing s3://{self.bucket}/{prefix}", self._bucket_missing):
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                objects.extend(page.get("Contents", []))
        return objects

    def _complete(self, prefix: str = "") -> dict[tuple[str, str], dict[str, Any]]:
        """``(name, version) -> archive object`` for every version whose manifest is present."""
        by_key = {obj["Key"]: obj for obj in self._objects(prefix)}
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for key in by_key:
            parts = key.split("/")
            if len(parts) == 3 and parts[2] == MANIFEST_OBJECT and f"{parts[0]}/{parts[1]}/{ARCHIVE_OBJECT}" in by_key:
                found[(parts[0], parts[1])] = by_key[f"{parts[0]}/{parts[1]}/{ARCHIVE_OBJECT}"]
        return found

    def models(self) -> list[ModelSummary]:
        """Every model with at least one complete version, by name."""
        grouped: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for (name, version), obj in self._complete().items():
            grouped.setdefault(name, []).append((version, obj))
        return [
            ModelSummary(
                name=name,
                versions=len(items),
                latest=max((version for version, _ in items), key=semver_key),
                last_pushed=max(obj["LastModified"] for _, obj in items),
            )
            for name, items in sorted(grouped.items())
        ]

    def versions(self, name: str) -> list[RegistryVersion]:
        """Every complete version of ``name``, oldest semver first; NotFoundError when there is none."""
        complete = self._complete(f"{name}/")
        if not complete:
            raise NotFoundError(f"no model {name!r} in s3://{self.bucket}; `maaskit models` lists what is there")
        rows = []
        with aws_errors(f"reading manifests of {name}"):
            for (model, version), obj in complete.items():
                raw = self.s3.get_object(Bucket=self.bucket, Key=f"{model}/{version}/{MANIFEST_OBJECT}")["Body"].read()
                manifest = load_manifest(raw, source=f"s3://{self.bucket}/{model}/{version}/{MANIFEST_OBJECT}")
                rows.append(RegistryVersion(model, version, int(obj["Size"]), obj["LastModified"], manifest))
        return sorted(rows, key=lambda row: semver_key(row.version))

    def pull(self, name: str, version: str, out_dir: Path) -> PullResult:
        """Download ``name@version`` into ``out_dir``, verify every checksum, then move it in atomically."""
        _check_ref_parts(name, version)
        prefix = self._prefix(name, version)
        with aws_errors(f"pulling {name} {version} from s3://{self.bucket}", self._bucket_missing):
            head = self._head(prefix + MANIFEST_OBJECT)
            if head is None:
                raise NotFoundError(
                    f"no version {version} of {name!r} in s3://{self.bucket}; `maaskit versions {name}` lists them"
                )
            expected = head.get("Metadata", {}).get(_META_MANIFEST)
            existing_manifest = out_dir / f"{name}-{version}" / MANIFEST_OBJECT
            archive_path = out_dir / f"{name}-{version}.tar.gz"
            if (
                expected
                and archive_path.is_file()
                and existing_manifest.is_file()
                and manifest_digest(existing_manifest.read_bytes()) == expected
            ):
                return PullResult(archive_path, existing_manifest.parent, False)
            archive_head = self._head(prefix + ARCHIVE_OBJECT)
            if archive_head is None:
                raise NotFoundError(f"s3://{self.bucket}/{prefix}{ARCHIVE_OBJECT} is missing; push the bundle again")
            with staging_dir(out_dir, f".{name}-{version}.pull-") as staging:
                download = staging / "bundle.tar.gz"
                self.s3.download_file(self.bucket, prefix + ARCHIVE_OBJECT, str(download))
                want = archive_head.get("Metadata", {}).get(_META_ARCHIVE)
                if want and file_sha256(download) != want:
                    raise OpsError(
                        f"the download of {name} {version} does not match the sha256 recorded at push; "
                        "retry, and if it persists the object was altered: push a new version"
                    )
                final_archive, final_dir = land(download, out_dir, name, version, expected)
        return PullResult(final_archive, final_dir, True)


def parse_registry_ref(ref: str) -> tuple[str, str] | None:
    """``registry:name@version`` -> ``(name, version)``; None for anything else (a local path)."""
    match = _REF.match(ref.strip())
    if match is None:
        if ref.strip().startswith("registry:"):
            raise OpsError(f"bundle reference {ref!r} must read registry:<name>@<version>, e.g. registry:iris@1.0.0")
        return None
    _check_ref_parts(match["name"], match["version"])
    return match["name"], match["version"]


def resolve_bundle_ref(
    ref: str,
    *,
    cache_dir: Path | None = None,
    bucket: str | None = None,
    stage: str | None = None,
    session: Any = None,
) -> Path:
    """The local path of a bundle reference, pulling ``registry:name@version`` refs into a cache.

    A plain path is returned unchanged. Registry bundles land verified in ``cache_dir``
    (default ``$MAASKIT_CACHE_DIR`` or ``~/.cache/maaskit/registry``); the archive path is returned.
    """
    parsed = parse_registry_ref(ref)
    if parsed is None:
        return Path(ref)
    from infra.ops.aws import make_session
    from infra.ops.bucket import resolve_bucket

    session = session or make_session()
    registry = Registry(session.client("s3"), resolve_bucket(session, bucket=bucket, stage=stage))
    target = cache_dir or Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "maaskit" / "registry")
    return registry.pull(*parsed, target).archive
