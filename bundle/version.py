"""The maaskit version, single-sourced from ``pyproject.toml``.

An installed maaskit reports its distribution metadata (written from ``pyproject.toml`` at install
time). Where maaskit is not installed — the Lambda asset, the container images, a bare checkout on
``PYTHONPATH`` — the ``pyproject.toml`` that every runtime artifact ships beside the packages is
read instead (``infra.packaging`` and the Dockerfiles copy it).
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

__all__ = ["DISTRIBUTION", "UNKNOWN_VERSION", "maaskit_version"]

DISTRIBUTION = "maaskit"
#: Reported when neither the metadata nor a pyproject.toml can be found (a PEP 440 local version).
UNKNOWN_VERSION = "0+unknown"
_PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _from_pyproject(path: Path) -> str | None:
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    version = project.get("version")
    return str(version) if project.get("name") == DISTRIBUTION and version else None


@cache
def maaskit_version() -> str:
    """The installed maaskit version, else the one in the shipped ``pyproject.toml``, else ``0+unknown``."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return _from_pyproject(_PYPROJECT) or UNKNOWN_VERSION
