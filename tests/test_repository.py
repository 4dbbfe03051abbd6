"""The repository holds sources, not generated artifacts: no tracked file over 1 MB outside an allow-list.

Profiling dumps, bundles, ONNX files and benchmark output are made by commands; committed, they
bloat every clone and go stale. A file that must be large and tracked is named here with the reason.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIMIT_BYTES = 1024 * 1024
#: Tracked files allowed past the limit, each with why it must be in the repository.
ALLOWED: dict[str, str] = {}


def _tracked() -> list[str]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [name for name in listed.decode().split("\0") if name]


def test_no_large_generated_files_are_tracked() -> None:
    """Every tracked file over 1 MB is allow-listed with a reason."""
    large = {
        name: (REPO / name).stat().st_size
        for name in _tracked()
        if (REPO / name).is_file() and (REPO / name).stat().st_size > LIMIT_BYTES
    }
    unexpected = {name: size for name, size in large.items() if name not in ALLOWED}
    assert not unexpected, (
        f"tracked files over {LIMIT_BYTES} bytes: {unexpected}; generated files are never committed "
        "(git rm --cached them and add their pattern to .gitignore)"
    )


def test_profiles_and_bundles_are_ignored() -> None:
    """onnxruntime profiles and packaged bundles written in the tree are ignored by git."""
    names = ["onnxruntime_profile__2026-12-01_23-33-46_649.json", "bundles/iris-1.0.0.tar.gz", "bench/out/report.md"]
    checked = subprocess.run(
        ["git", "check-ignore", "--no-index", *names], check=False, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert sorted(checked.stdout.split()) == sorted(names)
