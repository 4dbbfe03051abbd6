"""The S3 model registry: push, list, pull, immutability, and ``registry:`` references."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from infra.ops.errors import NotFoundError, OpsError, RegistryConflictError
from infra.ops.registry import Registry, parse_registry_ref, resolve_bundle_ref
from tests.infra.ops.conftest import Aws, build_bundle


@pytest.fixture
def registry(aws: Aws, registry_bucket: str) -> Registry:
    return Registry(aws.session.client("s3"), registry_bucket)


def test_push_lists_and_pulls_verified(registry: Registry, tmp_path: Path) -> None:
    v1 = build_bundle(tmp_path / "b", "1.0.0")
    v2 = build_bundle(tmp_path / "b", "1.1.0", scale=2.0)
    first = registry.push(v1.archive)
    assert first.uploaded and first.prefix == "double/1.0.0/"
    assert registry.push(v2.directory).uploaded  # a directory is archived like the writer does

    [model] = registry.models()
    assert (model.name, model.versions, model.latest) == ("double", 2, "1.1.0")
    rows = registry.versions("double")
    assert [row.version for row in rows] == ["1.0.0", "1.1.0"]
    assert rows[0].size == v1.archive.stat().st_size
    assert rows[0].parity.startswith("passed (max_abs_diff 0 <= 1e-05")

    pulled = registry.pull("double", "1.1.0", tmp_path / "pulled")
    assert pulled.downloaded
    assert pulled.archive.read_bytes() == v2.archive.read_bytes()  # the directory push is byte-identical
    assert (pulled.directory / "model.onnx").read_bytes() == (v2.directory / "model.onnx").read_bytes()
    assert not [p for p in (tmp_path / "pulled").iterdir() if p.name.startswith(".")]  # no staging left
    assert not registry.pull("double", "1.1.0", tmp_path / "pulled").downloaded


def test_push_same_content_is_noop_and_different_content_refused(registry: Registry, tmp_path: Path) -> None:
    original = build_bundle(tmp_path / "a", "1.0.0")
    assert registry.push(original.archive).uploaded
    assert not registry.push(original.directory).uploaded
    rebuilt = build_bundle(tmp_path / "other", "1.0.0", scale=3.0)
    with pytest.raises(RegistryConflictError, match="immutable: bump the version"):
        registry.push(rebuilt.archive)
    pulled = registry.pull("double", "1.0.0", tmp_path / "pulled")
    assert pulled.archive.read_bytes() == original.archive.read_bytes()


def test_pull_refuses_tampered_archive(aws: Aws, registry: Registry, tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path / "b", "1.0.0")
    registry.push(bundle.archive)
    s3 = aws.session.client("s3")
    # Someone replaces the archive without going through push (metadata keeps the pushed sha256).
    head = s3.head_object(Bucket=registry.bucket, Key="double/1.0.0/bundle.tar.gz")
    forged = build_bundle(tmp_path / "forged", "1.0.0", scale=5.0)
    s3.put_object(
        Bucket=registry.bucket,
        Key="double/1.0.0/bundle.tar.gz",
        Body=forged.archive.read_bytes(),
        Metadata=head["Metadata"],
    )
    out = tmp_path / "pulled"
    with pytest.raises(OpsError, match="does not match the sha256 recorded at push"):
        registry.pull("double", "1.0.0", out)
    assert list(out.iterdir()) == []  # nothing half-written


def test_push_refuses_corrupt_bundle(registry: Registry, tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path / "b", "1.0.0")
    (bundle.directory / "model.onnx").write_bytes(b"not the model")
    with pytest.raises(OpsError, match="not a valid bundle"):
        registry.push(bundle.directory)
    assert registry.models() == []


def test_missing_things_say_what_to_do(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="maaskit models"):
        registry.versions("nope")
    with pytest.raises(NotFoundError, match="maaskit versions double"):
        registry.pull("double", "9.9.9", tmp_path)
    with pytest.raises(NotFoundError, match="does not exist"):
        Registry(registry.s3, "no-such-bucket-here").models()


def test_incomplete_upload_is_invisible(aws: Aws, registry: Registry) -> None:
    # An archive without its manifest (push interrupted) is not a version.
    aws.session.client("s3").put_object(Bucket=registry.bucket, Key="double/2.0.0/bundle.tar.gz", Body=b"x")
    assert registry.models() == []


def test_registry_ref_resolution(aws: Aws, registry: Registry, tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path / "b", "1.0.0")
    registry.push(bundle.archive)
    assert resolve_bundle_ref("bundles/x.tar.gz") == Path("bundles/x.tar.gz")
    path = resolve_bundle_ref(
        "registry:double@1.0.0", cache_dir=tmp_path / "cache", bucket=registry.bucket, session=aws.session
    )
    assert path == tmp_path / "cache" / "double-1.0.0.tar.gz"
    with tarfile.open(path) as tar:
        assert sorted(tar.getnames()) == ["manifest.json", "model.onnx", "samples.npz"]
    with pytest.raises(OpsError, match="registry:<name>@<version>"):
        parse_registry_ref("registry:double")
    with pytest.raises(OpsError, match="not a semantic version"):
        parse_registry_ref("registry:double@latest")
