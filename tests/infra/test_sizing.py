"""Deploy by size: zip, container image or SageMaker from the bundle's size and measured memory.

No test writes gigabytes: big bundles are described by their manifest figures (``BundleSource.size``,
``resources``), or are a sparse file whose archive is never built.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Annotations, Match, Template

from bundle import MODEL_DATA_FILE, Resources
from bundle.limits import LAMBDA_MEMORY_MB_MAX
from infra.bundles import resolve_bundle
from infra.config import ConfigError, EndpointConfig, LambdaConfig
from infra.constructs.lambda_endpoint import LambdaEndpoint, LambdaEndpointProps
from infra.sizing import check_sagemaker, choose_target, lambda_memory, lambda_package, ready_warning
from tests.infra.conftest import REPO_ROOT, cdk_context, synthesize

GB = 1024**3
MB = 1024**2
LAYER = "arn:aws:lambda:eu-west-1:123456789012:layer:deps:1"


def _endpoint(**fields: object) -> EndpointConfig:
    return EndpointConfig.model_validate({"name": "big", "bundle": "bundles/big-1.0.0", **fields})


def test_lambda_memory_follows_the_measured_resident_memory() -> None:
    measured = Resources(resident_bytes=2200 * MB, ready_seconds=7.0)
    assert lambda_memory("big", LambdaConfig(), measured) == 2752  # 2200 + 25% headroom, rounded up to 64 MB
    assert lambda_memory("big", LambdaConfig(), None) == 2048  # not measured: the documented default
    assert lambda_memory("big", LambdaConfig(memory_mb=4096), measured) == 4096  # explicit wins when it can hold it
    with pytest.raises(ConfigError, match=r"lambda.memory_mb: 1024 MB is below the 2200 MB .* set at least 2752 MB"):
        lambda_memory("big", LambdaConfig(memory_mb=1024), measured)


def test_a_model_beyond_lambda_memory_is_refused_with_the_alternative() -> None:
    with pytest.raises(ConfigError, match=rf"Lambda allows at most {LAMBDA_MEMORY_MB_MAX} MB: use target: sagemaker"):
        lambda_memory("big", LambdaConfig(), Resources(resident_bytes=9 * GB, ready_seconds=3))
    assert choose_target(_endpoint(target="auto"), Resources(resident_bytes=9 * GB, ready_seconds=3), GB) == "sagemaker"
    assert choose_target(_endpoint(target="auto"), Resources(resident_bytes=GB, ready_seconds=3), GB) == "lambda"
    assert choose_target(_endpoint(target="auto"), None, 12 * GB) == "sagemaker"  # over the 10 GB image


def test_zip_image_choice_and_refusals() -> None:
    assert lambda_package("big", LambdaConfig(), 180 * MB, 10 * MB) == "zip"
    assert lambda_package("big", LambdaConfig(), 2300 * MB, int(2.2 * GB)) == "image"  # auto: too big for a zip
    assert lambda_package("big", LambdaConfig(package="image"), 180 * MB, 10 * MB) == "image"
    with pytest.raises(
        ConfigError, match=r"zip holds at most 250 MB unzipped .* use package: image .* or target: sagemaker"
    ):
        lambda_package("big", LambdaConfig(package="zip"), 2300 * MB, int(2.2 * GB))
    with pytest.raises(ConfigError, match=r"container image holds at most 10 GB .* use target: sagemaker"):
        lambda_package("big", LambdaConfig(), 11 * GB, 11 * GB)


def test_slow_init_warns_with_the_remedies() -> None:
    assert ready_warning("big", Resources(resident_bytes=GB, ready_seconds=1.5)) is None
    message = ready_warning("big", Resources(resident_bytes=GB, ready_seconds=7.2))
    assert message is not None and "7.2 s" in message and "10 s init limit" in message
    assert "provisioned_concurrency" in message and "sagemaker" in message


def test_sagemaker_instance_too_small_is_refused_naming_a_larger_one() -> None:
    endpoint = _endpoint(target="sagemaker", sagemaker={"instance_type": "ml.g5.xlarge"})
    with pytest.raises(ConfigError, match=r"ml.g5.xlarge has 16 GiB .* such as ml.g5.2xlarge \(32 GiB\)"):
        check_sagemaker(endpoint, Resources(resident_bytes=20 * GB, ready_seconds=20))
    check_sagemaker(endpoint, Resources(resident_bytes=3 * GB, ready_seconds=20))  # a 2.5 GB model fits


def _lambda(tmp_path: Path, bundle, sizing: LambdaConfig) -> tuple[Stack, LambdaEndpoint]:
    app = App(context=cdk_context(), outdir=str(tmp_path / "cdk.out"))
    stack = Stack(app, "Big")
    endpoint = LambdaEndpoint(
        stack,
        "Big",
        LambdaEndpointProps(
            function_name="maaskit-dev-iris",
            bundle=bundle,
            source_root=REPO_ROOT,
            deps_layer=lambda_.LayerVersion.from_layer_version_arn(stack, "Deps", LAYER),
            deps_size=150 * MB,
            build_root=tmp_path / "build",
            sizing=sizing,
        ),
    )
    return stack, endpoint


def test_a_bundle_over_2_gb_becomes_a_sized_container_image(bundles, tmp_path: Path) -> None:
    real = resolve_bundle(str(bundles["iris"]), "iris", tmp_path, tmp_path / "build")
    measured = Resources(resident_bytes=2700 * MB, ready_seconds=7.5)
    big = dataclasses.replace(
        real, size=int(2.25 * GB), resources=measured
    )  # what the manifest of a 2.25 GB model says
    stack, endpoint = _lambda(tmp_path, big, LambdaConfig())
    assert endpoint.package == "image" and endpoint.memory_mb == 3392
    functions = Template.from_stack(stack).find_resources(
        "AWS::Lambda::Function", {"Properties": {"PackageType": "Image"}}
    )
    (function,) = functions.values()
    assert function["Properties"]["MemorySize"] == 3392
    Annotations.from_stack(stack).has_warning("*", Match.string_like_regexp("near Lambda's 10 s init limit"))
    with pytest.raises(ConfigError, match="zip holds at most 250 MB"):
        _lambda(tmp_path / "zip", big, LambdaConfig(package="zip"))


def _sparse_big_bundle(source: Path, target: Path) -> Path:
    """The iris bundle plus a 2.2 GB sparse model.onnx.data listed in its manifest (no blocks written)."""
    shutil.copytree(source, target)
    data = target / MODEL_DATA_FILE
    with data.open("wb") as handle:
        handle.truncate(int(2.2 * GB))
    digest = hashlib.sha256()
    chunk = bytes(64 * MB)
    for _ in range(int(2.2 * GB) // len(chunk)):
        digest.update(chunk)
    digest.update(bytes(int(2.2 * GB) % len(chunk)))
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["files"][MODEL_DATA_FILE] = {"sha256": digest.hexdigest(), "size": data.stat().st_size}
    (target / "manifest.json").write_text(json.dumps(manifest))
    (target.parent / f"{target.name}.tar.gz").write_bytes(b"never read by a Lambda target")
    return target


@pytest.mark.slow
def test_synth_refuses_a_2_gb_bundle_for_the_lambda_zip(bundles, tmp_path: Path) -> None:
    big = _sparse_big_bundle(Path(bundles["iris"]), tmp_path / "bundles" / "iris-1.0.0")
    assert os.stat(big / MODEL_DATA_FILE).st_blocks == 0  # nothing was written to disk
    config = {"endpoints": [{"name": "iris", "bundle": str(big), "lambda": {"package": "zip"}}]}
    with pytest.raises(
        ConfigError, match=r"endpoints.iris.lambda.package: zip holds at most 250 MB .* \(bundle 2\d\d\d MB\)"
    ):
        synthesize(tmp_path / "synth", config)


def test_a_speech_bundle_deploys_because_both_runtime_locks_carry_the_audio_stack():
    """Speech bundles need soundfile (libsndfile in its wheel), soxr and python-multipart where they run."""
    import re
    from pathlib import Path

    from infra.sizing import check_deployable

    for task in ("automatic-speech-recognition", "classifier", "text-generation"):
        check_deployable("endpoint", task)
    docker = Path(__file__).resolve().parents[2] / "handlers" / "docker"
    for image in ("lambda", "gpu"):
        lock = (docker / f"requirements-{image}.txt").read_text()
        for distribution in ("soundfile", "soxr", "python-multipart"):
            assert re.search(rf"^{distribution}==\S+ \\$", lock, re.MULTILINE), f"{distribution} not in {image}'s lock"
