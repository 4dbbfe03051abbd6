"""The README quickstart path as real processes: train the example, package it, verify it, twice identically."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "SOURCE_DATE_EPOCH"}  # no special env
    return subprocess.run(
        [str(a) for a in args], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


def test_train_package_verify(tmp_path):
    maaskit = [Path(sys.executable).parent / "maaskit"]  # the console script installed with the project
    trained = _run(sys.executable, REPO / "examples" / "train_sample.py", "--out", tmp_path, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "held-out accuracy" in trained.stdout and (tmp_path / "sample.npy").is_file()
    archives = []
    for out in ("a", "b"):
        packaged = _run(
            *maaskit,
            "package",
            tmp_path / "model.joblib",
            "--name",
            "iris",
            "--version",
            "1.0.0",
            "--sample",
            tmp_path / "sample.npy",
            "--out",
            tmp_path / out,
            cwd=tmp_path,
        )
        assert packaged.returncode == 0, packaged.stderr
        assert "parity  passed on 16 samples" in packaged.stdout
        archives.append((tmp_path / out / "iris-1.0.0.tar.gz").read_bytes())
    assert archives[0] == archives[1]
    verified = _run(*maaskit, "verify", tmp_path / "a" / "iris-1.0.0.tar.gz", cwd=tmp_path)
    assert verified.returncode == 0 and "iris-1.0.0: verified" in verified.stdout
