"""Semantic version precedence (semver.org §11) for picking the latest model version."""

from __future__ import annotations

__all__ = ["semver_key"]


def _identifier_key(part: str) -> tuple[int, int, str]:
    # numeric identifiers sort numerically and before alphanumeric ones
    return (0, int(part), "") if part.isdigit() else (1, 0, part)


def semver_key(version: str) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
    """Sort key: 1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-beta < 1.0.0 < 1.0.1 < 1.10.0; build metadata ignored."""
    core, _, _build = version.partition("+")
    release, _, prerelease = core.partition("-")
    parts = release.split(".")
    try:
        major, minor, patch = (int(part) for part in parts[:3])
    except ValueError:
        return (-1, 0, 0, 0, ((1, 0, version),))
    if not prerelease:
        return (major, minor, patch, 1, ())
    return (major, minor, patch, 0, tuple(_identifier_key(part) for part in prerelease.split(".")))
