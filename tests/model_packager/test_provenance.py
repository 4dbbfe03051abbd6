"""Provenance and the reproducible ``created`` rule."""

from __future__ import annotations

import os

import pytest

from model_packager.provenance import CI_RUN_VARIABLES, FALLBACK_EPOCH, created_time, detect_provenance


@pytest.fixture(autouse=True)
def _no_ci(monkeypatch):
    for _, run, commit in CI_RUN_VARIABLES:
        monkeypatch.delenv(run, raising=False)
        monkeypatch.delenv(commit, raising=False)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


def test_github_actions(monkeypatch):
    monkeypatch.setenv("GITHUB_RUN_ID", "987654")
    monkeypatch.setenv("GITHUB_SHA", "a" * 40)
    provenance = detect_provenance("0.1.0", "model.joblib")
    assert (provenance.ci_provider, provenance.ci_run_id, provenance.git_commit) == (
        "github-actions",
        "987654",
        "a" * 40,
    )


def test_codebuild_and_gitlab(monkeypatch):
    monkeypatch.setenv("CODEBUILD_BUILD_ID", "proj:1234")
    assert detect_provenance("0.1.0", None).ci_provider == "codebuild"
    monkeypatch.delenv("CODEBUILD_BUILD_ID")
    monkeypatch.setenv("CI_PIPELINE_ID", "55")
    monkeypatch.setenv("CI_COMMIT_SHA", "b" * 40)
    provenance = detect_provenance("0.1.0", None)
    assert (provenance.ci_provider, provenance.ci_run_id, provenance.git_commit) == ("gitlab", "55", "b" * 40)


def test_git_commit_outside_ci_and_outside_a_repo(monkeypatch, tmp_path):
    commit = detect_provenance("0.1.0", None).git_commit  # the test suite runs inside the maaskit checkout
    assert commit is None or len(commit) == 40
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    provenance = detect_provenance("0.1.0", None)
    assert provenance.git_commit is None and provenance.ci_run_id is None


def test_created_prefers_source_date_epoch_then_file_mtime(monkeypatch, tmp_path):
    model = tmp_path / "model.joblib"
    model.write_bytes(b"x")
    os.utime(model, (1_700_000_000, 1_700_000_000))
    assert created_time(model) == "2023-11-14T22:13:20Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1600000000")
    assert created_time(model) == created_time(None) == "2020-09-13T12:26:40Z"


def test_created_for_objects_outside_git_is_fixed(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert created_time(None) == "1980-01-01T00:00:00Z"
    assert FALLBACK_EPOCH == 315532800
