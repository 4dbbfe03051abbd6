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
    genai_requirements,
    runtime_sources,
    stage_lambda_code,
    staged_context,
    tree_digest,
)
from infra.samples import BUNDLE_PACKAGE, HOOK_SOURCE, stage_hook_asset
from infra.stream_image import STREAM_DOCKERFILE, STREAM_IMAGE_DIR, stream_image_files
from infra.streaming import EXEC_WRAPPER, STREAM_PYTHON_VERSION

__all__ = ["hook_asset_hash", "hook_code", "image_code", "zip_code"]

LAMBDA_DOCKERFILE = "handlers/docker/Dockerfile.lambda"


def _directory(bundle: BundleSource) -> Path:
    if bundle.directory is None:
        raise ValueError(f"{bundle.label}: a Lambda target needs a local bundle, got {bundle.s3_uri}")
    return bundle.directory


def zip_code(source_root: Path, bundle: BundleSource, *, streaming: bool = False) -> lambda_.Code:
    """The function's zip: runtime sources and this bundle, keyed by :func:`infra.packaging.code_asset_hash`.

    ``streaming``: a Python 3.12 function run by the streaming loop: no 3.11 ``.pyc`` (3.12 would ignore
    them), and the exec wrapper staged executable (Lambda runs it as a program).
    """
    bundle_dir = _directory(bundle)

    def stage(out: Path) -> None:
        stage_lambda_code(out, source_root, bundle_dir)
        if streaming:
            (out / EXEC_WRAPPER).chmod(0o755)

    key = code_asset_hash(source_root, bundle.digest)
    if streaming:
        key = hashlib.sha256(f"{key}\nstreaming python={STREAM_PYTHON_VERSION}".encode()).hexdigest()
    return lambda_.Code.from_asset(
        str(source_root / "handlers"),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=bundling_options(stage, key=key, compile_python=not streaming),
    )


def image_code(
    source_root: Path,
    bundle: BundleSource,
    build_root: Path,
    label: str,
    platform: ecr_assets.Platform,
    *,
    streaming: bool = False,
) -> lambda_.DockerImageCode:
    """The function's container image: a build context of its own (content-addressed, holding the bundle
    under ``bundles/<dir>``) and the bundle's sha256 as the image asset's extra hash.

    ``streaming``: the generated Python 3.12 image (:mod:`infra.stream_image`) whose entry point is the
    streaming loop, with onnxruntime-genai and the model baked in.
    """
    bundle_dir = _directory(bundle)
    trees = {**runtime_sources(source_root), f"bundles/{bundle_dir.name}": bundle_dir}
    dockerfile = LAMBDA_DOCKERFILE
    if streaming:
        generated = stream_image_files(build_root, *genai_requirements(source_root))
        trees.update({f"{STREAM_IMAGE_DIR}/{path.name}": path for path in generated})
        dockerfile = f"{STREAM_IMAGE_DIR}/{STREAM_DOCKERFILE}"
    context = staged_context(build_root, label, trees)
    return lambda_.DockerImageCode.from_image_asset(
        str(context), file=dockerfile, platform=platform, extra_hash=f"bundle={bundle.digest}"
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
