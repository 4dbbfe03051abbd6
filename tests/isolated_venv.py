"""Tools whose pins clash with the project's venv (SageMaker SDK, checkov) get a venv of their own.

Created once under ``.maaskit/<name>`` and reused while ``probe`` still succeeds in it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def isolated_venv(name: str, requirement: str, probe: list[str]) -> Path:
    """The ``bin/`` of ``.maaskit/<name>`` with ``requirement`` installed; ``probe`` (args to its python) checks it."""
    venv = ROOT / ".maaskit" / name
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([str(python), *probe], capture_output=True, check=False).returncode == 0:
        return venv / "bin"
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", requirement], capture_output=True, text=True, check=False
    )
    if install.returncode != 0:
        pytest.fail(f"could not install {requirement} into {venv}:\n{install.stderr[-2000:]}")
    return venv / "bin"
