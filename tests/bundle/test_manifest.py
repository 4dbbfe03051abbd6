"""The manifest schema refuses what a runtime must not guess about."""

from __future__ import annotations

import orjson
import pytest

from bundle import BundleFormatError, dump_manifest, load_manifest
from tests.bundle.conftest import make_manifest


def _raw(**changes: object) -> bytes:
    data = orjson.loads(dump_manifest(make_manifest()))
    data.update(changes)
    return orjson.dumps(data)


def test_round_trip_is_deterministic() -> None:
    manifest = make_manifest()
    assert load_manifest(dump_manifest(manifest)) == manifest
    assert dump_manifest(manifest) == dump_manifest(load_manifest(dump_manifest(manifest)))


def test_unknown_top_level_key_is_refused_by_name() -> None:
    with pytest.raises(BundleFormatError, match="surprise"):
        load_manifest(_raw(surprise=1))


def test_other_format_version_says_what_to_do() -> None:
    with pytest.raises(BundleFormatError, match="format_version 2.*Repackage"):
        load_manifest(_raw(format_version=2))


@pytest.mark.parametrize("name", ["Bad_Name", "-lead", "a" * 49, ""])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(BundleFormatError, match="name"):
        load_manifest(_raw(name=name))


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "01.2.3"])
def test_non_semver_versions_are_refused(version: str) -> None:
    with pytest.raises(BundleFormatError, match="version"):
        load_manifest(_raw(version=version))


def test_file_names_cannot_escape_the_bundle() -> None:
    files = {"model.onnx": {"sha256": "0" * 64, "size": 1}, "../etc": {"sha256": "0" * 64, "size": 1}}
    with pytest.raises(BundleFormatError, match="plain name"):
        load_manifest(_raw(files=files))


def test_not_json_is_a_format_error() -> None:
    with pytest.raises(BundleFormatError, match="not valid JSON"):
        load_manifest(b"{nope")
