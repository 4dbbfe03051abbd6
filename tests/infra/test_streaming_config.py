"""Deploy-file keys of streaming endpoints and the sizing of generative bundles (no synthesis)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundle.manifest import Resources
from infra.config import ApiConfig, ConfigError, LambdaConfig, parse_config
from infra.packaging import GENAI_REQUIREMENTS, genai_requirements, lock_python
from infra.stream_image import dockerfile_text, stream_image_files
from infra.streaming import (
    STREAM_TIMEOUT_S,
    check_edge,
    check_snapstart,
    footprint,
    generative_memory_mb,
    stream_timeout_s,
)

GIB = 1024**3


def _endpoint(**lambda_: object) -> dict[str, object]:
    return {"name": "chat", "bundle": "bundles/chat", "lambda": lambda_}


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"provisioned_concurrency": {"min": 1}}, "provisioned_concurrency"),
        ({"ephemeral_storage_mb": 1024}, "ephemeral_storage_mb"),
        ({"package": "image"}, "package"),
    ],
)
def test_snapstart_conflicts_are_refused_when_the_file_is_read(extra, key):
    with pytest.raises(ConfigError) as caught:
        parse_config({"endpoints": [_endpoint(snapstart=True, **extra)]}, "maaskit.deploy.yaml")
    message = str(caught.value)
    assert "endpoints.0.lambda" in message and f"snapstart cannot go with {key}" in message


def test_snapstart_within_its_limits_is_accepted():
    config = parse_config({"endpoints": [_endpoint(snapstart=True, ephemeral_storage_mb=512)]})
    assert config.endpoints[0].lambda_.snapstart


def test_edge_with_explicit_streaming_routes_is_refused_with_the_reason():
    data = {"endpoints": [_endpoint(streaming={"api_routes": True})], "api": {"endpoint_type": "edge"}}
    with pytest.raises(ConfigError, match="30 s without a byte"):
        parse_config(data)


def test_edge_is_refused_at_synthesis_for_a_generative_bundle():
    with pytest.raises(ConfigError, match="regional"):
        check_edge("chat", ApiConfig(endpoint_type="edge"), LambdaConfig())
    check_edge(
        "chat", ApiConfig(endpoint_type="edge"), LambdaConfig.model_validate({"streaming": {"api_routes": False}})
    )
    check_edge("chat", ApiConfig(), LambdaConfig())


def test_an_unreachable_streaming_model_is_refused():
    with pytest.raises(ConfigError, match="unreachable"):
        parse_config({"endpoints": [_endpoint(streaming={"function_url": False, "api_routes": False})]})


def test_unknown_streaming_keys_are_named():
    with pytest.raises(ConfigError, match=r"endpoints\.0\.lambda\.streaming\.auth: unknown key"):
        parse_config({"endpoints": [_endpoint(streaming={"auth": "iam"})]})


def test_streaming_timeout_defaults_to_15_minutes_unless_set():
    assert stream_timeout_s(LambdaConfig()) == STREAM_TIMEOUT_S == 900
    assert stream_timeout_s(LambdaConfig(timeout_s=60)) == 60


def test_snapstart_needs_a_zip_and_python_312():
    config = LambdaConfig(snapstart=True)
    check_snapstart("chat", config, package="zip", streaming=True)
    with pytest.raises(ConfigError, match="container image"):
        check_snapstart("chat", config, package="image", streaming=True)
    with pytest.raises(ConfigError, match="Python 3.12"):
        check_snapstart("chat", config, package="zip", streaming=False)


def _fake_bundle(root: Path, *, layers: int, kv_heads: int, head: int, context: int, weights: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    decoder = {"num_hidden_layers": layers, "num_key_value_heads": kv_heads, "head_size": head}
    (root / "genai_config.json").write_text(json.dumps({"model": {"context_length": context, "decoder": decoder}}))
    (root / "manifest.json").write_text(json.dumps({"generation": {"precision": "int4"}}))
    with (root / "model.onnx.data").open("wb") as handle:
        handle.truncate(weights)  # sparse: the size is what counts
    return root


def test_memory_grows_with_the_context_length(tmp_path: Path):
    short = _fake_bundle(tmp_path / "short", layers=30, kv_heads=3, head=64, context=2048, weights=100 * 1024**2)
    long = _fake_bundle(tmp_path / "long", layers=30, kv_heads=3, head=64, context=32768, weights=100 * 1024**2)
    assert footprint(short).kv_cache_bytes == 2 * 30 * 3 * 64 * 4 * 2048
    assert generative_memory_mb("chat", LambdaConfig(), long, None) > generative_memory_mb(
        "chat", LambdaConfig(), short, None
    )


def test_memory_uses_the_measured_resident_set(tmp_path: Path):
    bundle = _fake_bundle(tmp_path / "b", layers=2, kv_heads=2, head=16, context=256, weights=1024)
    measured = Resources(resident_bytes=3 * GIB, ready_seconds=2.0)
    assert generative_memory_mb("chat", LambdaConfig(), bundle, measured) >= 3 * 1024 + 256


def test_a_model_too_big_for_lambda_is_sent_to_sagemaker(tmp_path: Path):
    bundle = _fake_bundle(tmp_path / "big", layers=32, kv_heads=8, head=128, context=32768, weights=8 * GIB)
    with pytest.raises(ConfigError, match="target: sagemaker") as caught:
        generative_memory_mb("chat", LambdaConfig(), bundle, None)
    assert "10240 MB" in str(caught.value) and "KV cache" in str(caught.value)


def test_configured_memory_below_the_model_is_refused(tmp_path: Path):
    bundle = _fake_bundle(tmp_path / "mid", layers=24, kv_heads=4, head=64, context=8192, weights=2 * GIB)
    with pytest.raises(ConfigError, match=r"lambda\.memory_mb: 1024 MB cannot hold the model"):
        generative_memory_mb("chat", LambdaConfig(memory_mb=1024), bundle, None)


def test_the_oversized_image_bakes_the_model_in_and_runs_the_loop(tmp_path: Path):
    text = dockerfile_text()
    assert "FROM public.ecr.aws/lambda/python:3.12" in text
    assert 'ENTRYPOINT ["/var/lang/bin/python3", "-m", "handlers.lambda_stream"]' in text
    assert "COPY bundles/ ${LAMBDA_TASK_ROOT}/bundles/" in text  # never downloaded at cold start
    repo = Path(__file__).resolve().parents[2]
    dockerfile, requirements = stream_image_files(tmp_path, *genai_requirements(repo))
    pins = requirements.read_text()
    assert "onnxruntime-genai==0.18.0 \\\n    --hash=sha256:" in pins and "\nonnxruntime==" in pins  # hash-pinned
    assert "for CPython 3.12" in pins and dockerfile.read_text() == text
    assert "--require-hashes" in text


def test_without_the_generative_lock_the_image_takes_the_lambda_pins_unhashed(tmp_path: Path):
    repo = Path(__file__).resolve().parents[2]
    lock = repo / "handlers/docker/requirements-lambda.txt"
    dockerfile, requirements = stream_image_files(tmp_path, lock, GENAI_REQUIREMENTS)
    pins = requirements.read_text().splitlines()
    assert "onnxruntime-genai==0.18.0" in pins and any(pin.startswith("onnxruntime==") for pin in pins)
    assert not any("--hash" in pin for pin in pins) and "--require-hashes" not in dockerfile.read_text()


def test_the_generative_lock_is_hash_checked_for_python_3_12_and_the_lambda_lock_for_3_11():
    repo = Path(__file__).resolve().parents[2]
    lock, extra = genai_requirements(repo)
    assert lock.name == "requirements-lambda-genai.txt" and extra == ()
    assert lock_python(lock) == "3.12" and lock_python(repo / "handlers/docker/requirements-lambda.txt") == "3.11"
