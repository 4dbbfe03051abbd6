"""Streaming (text-generation) endpoints on Lambda: which bundles stream, and how much memory they need.

A ``text-generation`` bundle is served by maaskit's own streaming runtime loop
(``handlers/lambda_stream``, started through ``AWS_LAMBDA_EXEC_WRAPPER``) on Python 3.12+
(Amazon Linux 2023: onnxruntime-genai's wheels need glibc 2.28 or newer). Its memory is sized from
what it holds: the measured resident set when packaging measured it (else the weights plus the
runtime), plus the KV cache of one full context (one request per execution environment), plus
headroom. A model that cannot fit Lambda's 10,240 MB is refused naming SageMaker as its target.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from bundle.generation import GENERATION_TASK
from bundle.limits import LAMBDA_MEMORY_MB_MAX
from bundle.manifest import Resources
from infra.config import EDGE_STREAMING_REASON, ApiConfig, ConfigError, LambdaConfig

__all__ = [
    "EXEC_WRAPPER",
    "STREAM_PYTHON_VERSION",
    "STREAM_TIMEOUT_S",
    "STREAMING_TASKS",
    "GenerativeFootprint",
    "check_edge",
    "check_snapstart",
    "footprint",
    "generative_memory_mb",
    "is_streaming",
    "stream_timeout_s",
]

#: Tasks whose routes stream (their function runs the streaming loop).
STREAMING_TASKS = frozenset({GENERATION_TASK})
#: The Python of streaming functions: 3.12 runs on AL2023 (glibc 2.34), where onnxruntime-genai loads.
STREAM_PYTHON_VERSION = "3.12"
#: Function (and streaming integration) timeout when the deploy file leaves ``timeout_s`` out: 15 minutes.
STREAM_TIMEOUT_S = 900
#: The wrapper Lambda runs instead of the managed runtime's loop (path inside the function's code).
EXEC_WRAPPER = "handlers/lambda_stream/exec_wrapper.sh"
#: Python, onnxruntime, onnxruntime-genai, the web stack and tokenizers, resident before the model.
RUNTIME_BASE_MB = 320
#: Beyond weights and KV cache: activations and logits of a step, request and token buffers.
HEADROOM_MB = 256
HEADROOM_SHARE = 0.25
_MB = 1024**2
_WEIGHT_FILES = ("model.onnx", "model.onnx.data")


def is_streaming(task: str) -> bool:
    """True when bundles of ``task`` are served by the streaming loop."""
    return task in STREAMING_TASKS


def stream_timeout_s(config: LambdaConfig) -> int:
    """The configured ``timeout_s``, else :data:`STREAM_TIMEOUT_S` (a generation may run for minutes)."""
    return config.timeout_s if "timeout_s" in config.model_fields_set else STREAM_TIMEOUT_S


@dataclass(frozen=True)
class GenerativeFootprint:
    """What a generative bundle holds in memory: weights, one full context's KV cache, and its context."""

    weights_bytes: int
    kv_cache_bytes: int
    context_length: int


def footprint(bundle_dir: Path) -> GenerativeFootprint:
    """Read the weights' size and the KV cache's shape (``genai_config.json``) of the bundle at ``bundle_dir``."""
    config_path = bundle_dir / "genai_config.json"
    try:
        model = json.loads(config_path.read_text(encoding="utf-8"))["model"]
        decoder = model["decoder"]
        context = int(model["context_length"])
        per_token = (
            2 * int(decoder["num_hidden_layers"]) * int(decoder["num_key_value_heads"]) * int(decoder["head_size"])
        )
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"{bundle_dir}: cannot read the model's shape from genai_config.json ({exc}); repackage the bundle"
        ) from None
    weights = sum((bundle_dir / name).stat().st_size for name in _WEIGHT_FILES if (bundle_dir / name).is_file())
    manifest = json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))
    precision = (manifest.get("generation") or {}).get("precision", "fp32")
    element = 2 if precision == "fp16" else 4  # CPU models keep an fp32 KV cache, int4/int8 weights included
    return GenerativeFootprint(weights, per_token * element * context, context)


def generative_memory_mb(name: str, config: LambdaConfig, bundle_dir: Path, resources: Resources | None) -> int:
    """Lambda memory for a generative bundle; ConfigError when it cannot fit Lambda or the configured memory."""
    size = footprint(bundle_dir)
    resident_mb = (
        resources.resident_bytes / _MB if resources is not None else RUNTIME_BASE_MB + size.weights_bytes / _MB
    )
    held_mb = resident_mb + size.kv_cache_bytes / _MB
    need = int(math.ceil((held_mb + max(HEADROOM_MB, held_mb * HEADROOM_SHARE)) / 64) * 64)
    how = "measured at packaging" if resources is not None else "weights plus the runtime"
    if need > LAMBDA_MEMORY_MB_MAX:
        raise ConfigError(
            f"endpoints.{name}: the model needs about {need} MB ({resident_mb:.0f} MB resident, {how}, plus "
            f"{size.kv_cache_bytes / _MB:.0f} MB of KV cache for its {size.context_length}-token context, plus "
            f"headroom) and Lambda allows at most {LAMBDA_MEMORY_MB_MAX} MB: use target: sagemaker (a GPU or "
            "larger-memory instance), or package it smaller (--quantize int4, or a shorter context)"
        )
    if config.memory_mb is not None and config.memory_mb < held_mb:
        raise ConfigError(
            f"endpoints.{name}.lambda.memory_mb: {config.memory_mb} MB cannot hold the model ({held_mb:.0f} MB: "
            f"{resident_mb:.0f} MB resident and a {size.context_length}-token KV cache); set at least {need} MB or "
            "leave memory_mb out to size it from the bundle"
        )
    return config.memory_mb or max(need, 1024)


def check_edge(name: str, api: ApiConfig, config: LambdaConfig) -> None:
    """Refuse a streaming model's API routes on an edge-optimized API (30 s idle timeout)."""
    if api.endpoint_type == "edge" and config.streaming.api_routes:
        raise ConfigError(EDGE_STREAMING_REASON.format(name=name))


def check_snapstart(name: str, config: LambdaConfig, *, package: str, streaming: bool) -> None:
    """SnapStart needs a Python 3.12+ zip function (the deploy file's own limits are checked when it is read)."""
    if not config.snapstart:
        return
    if package != "zip":
        raise ConfigError(
            f"endpoints.{name}.lambda.snapstart: the model is too large for a zip and goes in a container image, "
            "which SnapStart does not support; remove snapstart (or use provisioned_concurrency for warm starts)"
        )
    if not streaming:
        raise ConfigError(
            f"endpoints.{name}.lambda.snapstart: SnapStart needs Python 3.12+, and this endpoint's function runs "
            "Python 3.11 (its dependency lock is cp311); remove snapstart"
        )
