"""A deploy file may name a registry bundle (``registry:name@version``): synthesis pulls and verifies it."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.bundles import resolve_bundle
from infra.config import ConfigError
from infra.ops.registry import Registry
from tests.infra.ops.conftest import build_bundle


def test_registry_reference_is_pulled_verified_and_described(aws, registry_bucket, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MAASKIT_REGISTRY_BUCKET", registry_bucket)
    pushed = build_bundle(tmp_path / "local", "1.2.0")
    Registry(aws.session.client("s3"), registry_bucket).push(pushed.archive)

    source = resolve_bundle("registry:double@1.2.0", "double", tmp_path, tmp_path / "build", "prod")

    assert source.version == "1.2.0"
    assert (
        source.directory is not None
        and (source.directory / "model.onnx").read_bytes() == (pushed.directory / "model.onnx").read_bytes()
    )


def test_missing_registry_version_names_the_endpoint_and_the_ref(aws, registry_bucket, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MAASKIT_REGISTRY_BUCKET", registry_bucket)
    with pytest.raises(ConfigError, match=r"endpoints\.double\.bundle: cannot pull registry:double@9\.9\.9"):
        resolve_bundle("registry:double@9.9.9", "double", tmp_path, tmp_path / "build", "prod")
