"""The maaskit version comes from pyproject.toml everywhere: installed, in a checkout, in an artifact."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from bundle import version as version_module

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
DECLARED = tomllib.loads(PYPROJECT.read_text())["project"]["version"]


def test_every_phase_reports_the_pyproject_version():
    import maaskit
    from model_packager.job import maaskit_version as packager_version

    assert version_module.maaskit_version() == DECLARED
    assert maaskit.__version__ == DECLARED
    assert packager_version() == DECLARED


def test_without_metadata_the_shipped_pyproject_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(version_module.metadata, "version", missing)
    version_module.maaskit_version.cache_clear()
    try:
        assert version_module.maaskit_version() == DECLARED
        other = tmp_path / "pyproject.toml"
        other.write_text('[project]\nname = "someone-else"\nversion = "9.9.9"\n')
        monkeypatch.setattr(version_module, "_PYPROJECT", other)
        version_module.maaskit_version.cache_clear()
        assert version_module.maaskit_version() == version_module.UNKNOWN_VERSION
    finally:
        version_module.maaskit_version.cache_clear()
