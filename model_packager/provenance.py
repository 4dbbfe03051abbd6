"""Where a bundle was built: git commit, CI run, and a reproducible ``created`` time.

``created`` must not change between two builds of the same inputs, or the
archives would differ. It is taken, in order, from:

1. ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention), when set;
2. the model file's modification time (newest file for a directory), for a path input;
3. the commit time of ``HEAD`` when run inside a git repository, for an in-memory model
   (the model is a product of that commit's training code);
4. 1980-01-01T00:00:00Z, the same fixed instant the archive uses for its members.
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from bundle import Provenance

__all__ = ["CI_RUN_VARIABLES", "FALLBACK_EPOCH", "created_time", "detect_provenance", "git_commit"]

FALLBACK_EPOCH = 315532800
#: (provider, run-id variable, commit variable), checked in order.
CI_RUN_VARIABLES: tuple[tuple[str, str, str], ...] = (
    ("github-actions", "GITHUB_RUN_ID", "GITHUB_SHA"),
    ("codebuild", "CODEBUILD_BUILD_ID", "CODEBUILD_RESOLVED_SOURCE_VERSION"),
    ("gitlab", "CI_PIPELINE_ID", "CI_COMMIT_SHA"),
    ("buildkite", "BUILDKITE_BUILD_ID", "BUILDKITE_COMMIT"),
    ("circleci", "CIRCLE_WORKFLOW_ID", "CIRCLE_SHA1"),
    ("azure-pipelines", "BUILD_BUILDID", "BUILD_SOURCEVERSION"),
    ("jenkins", "BUILD_ID", "GIT_COMMIT"),
)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    value = done.stdout.strip()
    return value if done.returncode == 0 and value else None


def git_commit() -> str | None:
    """The commit being built: from CI variables, else ``git rev-parse HEAD``, else None."""
    for _, _, variable in CI_RUN_VARIABLES:
        if os.environ.get(variable):
            return os.environ[variable]
    return _git("rev-parse", "HEAD")


def _ci_run() -> tuple[str | None, str | None]:
    for provider, run_variable, _ in CI_RUN_VARIABLES:
        if os.environ.get(run_variable):
            return provider, os.environ[run_variable]
    return None, None


def detect_provenance(maaskit_version: str, source: str | None) -> Provenance:
    """Provenance of a build in the current environment."""
    provider, run_id = _ci_run()
    return Provenance(
        maaskit_version=maaskit_version,
        python_version=platform.python_version(),
        git_commit=git_commit(),
        ci_provider=provider,
        ci_run_id=run_id,
        source=source,
    )


def _mtime(path: Path) -> float:
    if path.is_dir():
        times = [child.stat().st_mtime for child in path.rglob("*") if child.is_file()]
        return max(times, default=path.stat().st_mtime)
    return path.stat().st_mtime


def created_time(model_path: Path | None) -> str:
    """ISO-8601 UTC ``created`` time following the module's reproducible rule."""
    epoch: float | None = None
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw and raw.strip().isdigit():
        epoch = float(raw)
    elif model_path is not None:
        epoch = _mtime(model_path)
    else:
        commit_time = _git("log", "-1", "--format=%ct")
        epoch = float(commit_time) if commit_time and commit_time.isdigit() else FALLBACK_EPOCH
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
