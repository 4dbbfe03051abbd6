"""The code assets of one Lambda endpoint, each keyed by the bundle it holds.

CDK caches a staged asset by its source folder and bundling options. Every endpoint's code is staged
by local bundling from the same folder (``handlers/``; the hook's from ``infra/hook/``) with the same
options, so without a key of their own every function got the first endpoint's staging and every hook
the first model's samples (issue 20). Each asset here is keyed by the bundle's sha256 (``BundleSource.digest``,
the manifest's hash, which covers every file's checksum) and by everything else its contents come from.

The key travels in the bundling options (part of CDK's staging cache key, see
:func:`infra.packaging.bundling_options`) while the asset's own hash stays the hash of the staged output: a
CUSTOM asset hash would also hash the bundling options, whose local-bundling object serializes differently
in every synthesis, and so would publish a new Lambda version on every deploy.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from aws_cdk import AssetHashType
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_lambda as lambda_

from infra import samples
from infra.bundles import BundleSource
from infra.packaging import (
    bundling_options,
    code_asset_hash,
    runtime_sources,
    stage_lambda_code,
    staged_context,
    tree_digest,
)
from infra.samples import BUNDLE_PACKAGE, HOOK_SOURCE, stage_hook_asset

__all__ = ["hook_asset_hash", "hook_code", "image_code", "zip_code"]

LAMBDA_DOCKERFILE = "handlers/docker/Dockerfile.lambda"


def _directory(bundle: BundleSource) -> Path:
    if bundle.directory is None:
        raise ValueError(f"{bundle.label}: a Lambda target needs a local bundle, got {bundle.s3_uri}")
    return bundle.directory


def zip_code(source_root: Path, bundle: BundleSource) -> lambda_.Code:
    """The function's zip: runtime sources and this bundle, keyed by :func:`infra.packaging.code_asset_hash`."""
    bundle_dir = _directory(bundle)

    def stage(out: Path) -> None:
        stage_lambda_code(out, source_root, bundle_dir)

    return lambda_.Code.from_asset(
        str(source_root / "handlers"),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=bundling_options(stage, key=code_asset_hash(source_root, bundle.digest)),
    )


def image_code(
    source_root: Path, bundle: BundleSource, build_root: Path, label: str, platform: ecr_assets.Platform
) -> lambda_.DockerImageCode:
    """The function's container image: a build context of its own (content-addressed, holding the bundle
    under ``bundles/<dir>``) and the bundle's sha256 as the image asset's extra hash."""
    bundle_dir = _directory(bundle)
    trees = {**runtime_sources(source_root), f"bundles/{bundle_dir.name}": bundle_dir}
    context = staged_context(build_root, label, trees)
    return lambda_.DockerImageCode.from_image_asset(
        str(context), file=LAMBDA_DOCKERFILE, platform=platform, extra_hash=f"bundle={bundle.digest}"
    )


def hook_asset_hash(bundle_digest: str) -> str:
    """The hook asset's key: the bundle whose samples it holds, the hook's sources, the bundle package it
    judges with, and the staging function (``infra/samples.py``)."""
    parts = [
        f"bundle={bundle_digest}",
        f"hook={tree_digest(HOOK_SOURCE.parent)}",
        f"bundle-package={tree_digest(BUNDLE_PACKAGE)}",
        f"staging={hashlib.sha256(Path(samples.__file__).read_bytes()).hexdigest()}",
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def hook_code(bundle: BundleSource) -> lambda_.Code:
    """The pre-traffic hook's zip: the hook, the bundle package, and this bundle's manifest and samples."""
    bundle_dir = _directory(bundle)
    return lambda_.Code.from_asset(
        str(HOOK_SOURCE.parent),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=bundling_options(lambda out: stage_hook_asset(out, bundle_dir), key=hook_asset_hash(bundle.digest)),
    )
