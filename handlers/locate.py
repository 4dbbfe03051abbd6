"""Expand bundle locations (files, directories, parents of bundles, globs) into bundle paths."""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

from bundle import MANIFEST_FILE, BundleNotFoundError

__all__ = ["find_bundles"]

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


def _is_archive(path: Path) -> bool:
    return path.is_file() and path.name.endswith(_ARCHIVE_SUFFIXES)


def _archive_stem(path: Path) -> str:
    for suffix in _ARCHIVE_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.name


def _children(parent: Path) -> list[Path]:
    """Bundles directly inside ``parent``; an archive beside its own extracted directory is skipped."""
    directories = sorted(child for child in parent.iterdir() if (child / MANIFEST_FILE).is_file())
    names = {child.name for child in directories}
    archives = sorted(child for child in parent.iterdir() if _is_archive(child) and _archive_stem(child) not in names)
    return directories + archives


def find_bundles(locations: Iterable[str | Path]) -> list[Path]:
    """Bundle directories and archives named by ``locations``.

    Each location is a bundle directory, a bundle archive, a directory holding bundles, or a glob of those.
    Raises BundleNotFoundError when a location names nothing or nothing is found at all.
    """
    found: list[Path] = []
    for location in locations:
        text = str(location)
        matches = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
        if not matches:
            raise BundleNotFoundError(f"no bundle matches {text!r}")
        for match in matches:
            path = Path(match)
            if (path / MANIFEST_FILE).is_file() or _is_archive(path):
                found.append(path)
            elif path.is_dir():
                children = _children(path)
                if not children:
                    raise BundleNotFoundError(f"{path} holds no bundle (no manifest.json, no .tar.gz)")
                found.extend(children)
            else:
                raise BundleNotFoundError(
                    f"{path} does not exist; give a bundle directory, .tar.gz, or a folder of them"
                )
    if not found:
        raise BundleNotFoundError(
            "no bundle to serve: pass bundle paths or set MAASKIT_BUNDLES "
            "(os.pathsep-separated directories or archives)"
        )
    return found
