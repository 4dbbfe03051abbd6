"""Failing cases through the real ``maaskit package`` command: a few lines each, details in a log file,
the same fields with ``--json``, everything with ``--debug``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest

from tests.model_packager.coverage.cases import dataset

MAX_TERMINAL_LINES = 10


def _maaskit(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    env.pop("MAASKIT_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "maaskit", "package", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Saved models that cannot be packaged, each with its sample file."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from tests.model_packager.coverage.custom import HomegrownScaler

    root = tmp_path_factory.mktemp("failing")
    features, target = dataset("diabetes")
    iris, species = dataset("iris")
    models = {
        "refused": (HistGradientBoostingRegressor(max_iter=10).fit(features, target), features[:20]),
        "converter-error": (make_pipeline(HomegrownScaler(), LogisticRegression()).fit(iris, species), iris[:20]),
    }
    saved = {}
    for key, (model, sample) in models.items():
        joblib.dump(model, root / f"{key}.joblib")
        np.save(root / f"{key}.npy", sample.astype(np.float32))
        saved[key] = (root / f"{key}.joblib", root / f"{key}.npy")
    return saved


@pytest.mark.parametrize("key", ["refused", "converter-error"])
def test_failure_is_a_few_lines_naming_the_estimator_and_a_log(failing, key, tmp_path):
    model, sample = failing[key]
    result = _maaskit(
        model, "--name", key, "--version", "1.0.0", "--sample", sample, "--out", tmp_path / "b", cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= MAX_TERMINAL_LINES, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    estimator = "HistGradientBoostingRegressor" if key == "refused" else "HomegrownScaler"
    assert estimator in lines[0]
    assert not (tmp_path / "b").exists()
    if key == "converter-error":
        log = Path(lines[-1].removeprefix("  details: ").removesuffix(" (or rerun with --debug)"))
        assert "Traceback" in log.read_text(), "the converter's full error is kept in the log"


def test_json_error_carries_the_same_fields(failing, tmp_path):
    model, sample = failing["converter-error"]
    result = _maaskit(
        model, "--name", "c", "--version", "1.0.0", "--sample", sample, "--json", "--out", tmp_path, cwd=tmp_path
    )
    assert result.returncode == 2
    payload = json.loads(result.stdout)
    assert payload["ok"] is False and payload["exit_code"] == 2
    assert payload["error_type"] == "ConversionError" and "HomegrownScaler" in payload["error"]
    assert payload["error"] in result.stderr
    assert Path(payload["log"]).is_file() and "detail" not in payload


def test_debug_shows_the_converter_internals(failing, tmp_path):
    model, sample = failing["converter-error"]
    result = _maaskit(
        model, "--name", "c", "--version", "1.0.0", "--sample", sample, "--debug", "--out", tmp_path, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "details:" not in result.stderr
