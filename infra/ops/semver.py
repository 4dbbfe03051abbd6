"""Ordering of semantic versions (bundle versions are semver 2.0.0)."""

from __future__ import annotations

import re

__all__ = ["semver_key"]

_CORE = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def semver_key(version: str) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
    """Sort key: release after its pre-releases, numeric identifiers before alphanumeric ones.

    Strings that are not semver sort first, so they never pass for the newest version.
    """
    match = _CORE.match(version)
    if match is None:
        return (-1, -1, -1, 0, ())
    major, minor, patch, pre = match.groups()
    if pre is None:
        return (int(major), int(minor), int(patch), 1, ())
    parts = tuple((0, int(part)) if part.isdigit() else (1, part) for part in pre.split("."))
    return (int(major), int(minor), int(patch), 0, parts)
