"""Deploy by size: which target and package can hold a bundle, and how much Lambda memory it needs.

Decided from the bundle's files (manifest sizes) and the resources measured at packaging
(``manifest.resources``: resident memory and time to ready in a fresh onnxruntime process),
against the limits in :mod:`bundle.limits`. A choice that cannot hold the model raises
:class:`~infra.config.ConfigError` naming the limit and the alternative; ``maaskit synth`` exits 2.
"""

from __future__ import annotations

import math
from typing import Literal

from bundle.limits import (
    LAMBDA_IMAGE_BYTES,
    LAMBDA_INIT_SECONDS,
    LAMBDA_MEMORY_MB_MAX,
    LAMBDA_ZIP_UNZIPPED_BYTES,
    SAGEMAKER_INSTANCE_MEMORY_GIB,
)
from bundle.manifest import Resources
from infra.config import ConfigError, EndpointConfig, LambdaConfig

__all__ = [
    "check_deployable",
    "DEFAULT_MEMORY_MB",
    "LAMBDA_IMAGE_BASE_BYTES",
    "LambdaPackage",
    "needed_memory_mb",
    "choose_target",
    "lambda_memory",
    "lambda_package",
    "ready_warning",
    "check_sagemaker",
]

LambdaPackage = Literal["zip", "image"]
#: Lambda memory when the bundle carries no measurement (small models are not measured by default).
DEFAULT_MEMORY_MB = 2048
#: Beyond the measured resident memory: the web stack (FastAPI, Mangum, pydantic), request and
#: response buffers and the activations of concurrent batches.
HEADROOM_MB = 256
HEADROOM_SHARE = 0.25
#: The Lambda base image, Python runtime and the runtime's dependencies in the container image.
LAMBDA_IMAGE_BASE_BYTES = 900 * 1024**2
#: Warn when the measured time to ready reaches this share of Lambda's init limit.
READY_WARNING_SHARE = 0.6
_MB = 1024**2


def needed_memory_mb(resources: Resources) -> int:
    """Measured resident memory plus headroom, rounded up to 64 MB."""
    resident_mb = resources.resident_bytes / _MB
    need = resident_mb + max(HEADROOM_MB, resident_mb * HEADROOM_SHARE)
    return int(math.ceil(need / 64) * 64)


def lambda_memory(name: str, config: LambdaConfig, resources: Resources | None) -> int:
    """The configured memory, else the measured need, else DEFAULT_MEMORY_MB; refuse what cannot hold the model."""
    configured = config.memory_mb
    if resources is None:
        return configured or DEFAULT_MEMORY_MB
    need = needed_memory_mb(resources)
    resident = resources.resident_bytes / _MB
    if need > LAMBDA_MEMORY_MB_MAX:
        raise ConfigError(
            f"endpoints.{name}: the model needs about {need} MB of memory (measured {resident:.0f} MB resident "
            f"at packaging, plus headroom) and Lambda allows at most {LAMBDA_MEMORY_MB_MAX} MB: use target: sagemaker "
            "(an instance with more memory), or a smaller model (--quantize int8)"
        )
    if configured is not None and configured < resident:
        raise ConfigError(
            f"endpoints.{name}.lambda.memory_mb: {configured} MB is below the {resident:.0f} MB the model was "
            f"measured to use at packaging; set at least {need} MB or leave memory_mb out to size it from the bundle"
        )
    return configured or max(need, 512)


def lambda_package(name: str, config: LambdaConfig, zip_unzipped_bytes: int, bundle_bytes: int) -> LambdaPackage:
    """``zip`` when code, layer and bundle fit 250 MB unzipped, else ``image``; refuse what cannot hold the model."""
    requested = config.package
    image_bytes = bundle_bytes + LAMBDA_IMAGE_BASE_BYTES
    if image_bytes > LAMBDA_IMAGE_BYTES and requested != "zip":
        raise ConfigError(
            f"endpoints.{name}: a Lambda container image holds at most {LAMBDA_IMAGE_BYTES / 1024**3:.0f} GB and "
            f"this one would be {image_bytes / 1024**3:.1f} GB (bundle {bundle_bytes / 1024**3:.1f} GB + runtime): "
            "use target: sagemaker"
        )
    fits_zip = zip_unzipped_bytes <= LAMBDA_ZIP_UNZIPPED_BYTES
    if requested == "zip" and not fits_zip:
        raise ConfigError(
            f"endpoints.{name}.lambda.package: zip holds at most {LAMBDA_ZIP_UNZIPPED_BYTES / _MB:.0f} MB "
            f"unzipped (code and layers) and this function would be {zip_unzipped_bytes / _MB:.0f} MB (bundle "
            f"{bundle_bytes / _MB:.0f} MB): use package: image (a container image, up to "
            f"{LAMBDA_IMAGE_BYTES / 1024**3:.0f} GB) or target: sagemaker"
        )
    if requested == "image" or not fits_zip:
        return "image"
    return "zip"


def ready_warning(name: str, resources: Resources | None) -> str | None:
    """A warning when the measured time to ready nears Lambda's 10 s init limit."""
    if resources is None or resources.ready_seconds < READY_WARNING_SHARE * LAMBDA_INIT_SECONDS:
        return None
    return (
        f"endpoints.{name}: the model took {resources.ready_seconds:.1f} s to load and answer at packaging, "
        f"near Lambda's {LAMBDA_INIT_SECONDS:.0f} s init limit (past it the init is retried inside the first request): "
        "set lambda.provisioned_concurrency to keep environments initialized, or use target: sagemaker"
    )


def check_sagemaker(endpoint: EndpointConfig, resources: Resources | None) -> None:
    """Refuse an instance type whose memory is below the model's measured need (known types only)."""
    instance = endpoint.sagemaker.instance_type
    memory_gib = SAGEMAKER_INSTANCE_MEMORY_GIB.get(instance)
    if resources is None or memory_gib is None:
        return
    need_gib = needed_memory_mb(resources) / 1024
    if need_gib <= memory_gib:
        return
    family = instance.rsplit(".", 1)[0]
    larger = sorted(
        (gib, name)
        for name, gib in SAGEMAKER_INSTANCE_MEMORY_GIB.items()
        if gib >= need_gib and name.rsplit(".", 1)[0] == family
    )
    hint = f" such as {larger[0][1]} ({larger[0][0]} GiB)" if larger else ""
    raise ConfigError(
        f"endpoints.{endpoint.name}.sagemaker.instance_type: {instance} has {memory_gib} GiB of memory and the "
        f"model needs about {need_gib:.1f} GiB (measured at packaging, plus headroom): choose a larger instance{hint}"
    )


#: Tasks whose runtime dependencies the Lambda and SageMaker runtime sets do not carry, with what to do.
#: None today: speech bundles (soundfile, soxr, python-multipart) are in both locks (handlers/docker/).
NOT_DEPLOYABLE: dict[str, str] = {}


def check_deployable(name: str, task: str) -> None:
    """Refuse, before anything is staged, a bundle whose family the deployed runtimes cannot serve."""
    reason = NOT_DEPLOYABLE.get(task)
    if reason is not None:
        raise ConfigError(f"endpoints.{name}: {reason}")


def choose_target(
    endpoint: EndpointConfig, resources: Resources | None, bundle_bytes: int
) -> Literal["lambda", "sagemaker"]:
    """``target: auto``: Lambda while the model fits its memory and image limits, SageMaker beyond them."""
    if endpoint.target != "auto":
        return endpoint.target
    too_big = bundle_bytes + LAMBDA_IMAGE_BASE_BYTES > LAMBDA_IMAGE_BYTES
    too_hungry = resources is not None and needed_memory_mb(resources) > LAMBDA_MEMORY_MB_MAX
    return "sagemaker" if too_big or too_hungry else "lambda"
