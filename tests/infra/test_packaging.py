"""Local bundling helpers: deterministic staging (same sources, same asset hash, no spurious Lambda version)."""

from __future__ import annotations

import marshal
from pathlib import Path

from aws_cdk import DockerImage

from infra.packaging import LocalStaging, copy_tree, lambda_requirements, staged_context, tree_digest
from tests.infra.conftest import REPO_ROOT


def _stage_handlers(out: Path) -> None:
    def stage(target: Path) -> None:
        copy_tree(REPO_ROOT / "bundle", target / "bundle")

    staging = LocalStaging(stage)
    assert staging.try_bundle(str(out), image=DockerImage.from_registry("unused")) is True


def test_staging_twice_gives_identical_bytes_and_runtime_paths(tmp_path: Path):
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        out.mkdir()
        _stage_handlers(out)
    assert tree_digest(first) != ""
    pyc = sorted(first.rglob("*.pyc"))
    assert pyc, "compileall wrote no .pyc"
    for left in pyc:
        right = second / left.relative_to(first)
        assert left.read_bytes() == right.read_bytes(), left
    code = marshal.loads(pyc[0].read_bytes()[16:])
    assert code.co_filename.startswith("/var/task/bundle/"), code.co_filename


def test_staged_context_is_content_addressed(tmp_path: Path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.py").write_text("x = 1\n")
    one = staged_context(tmp_path / "build", "gpu", {"handlers": source})
    assert staged_context(tmp_path / "build", "gpu", {"handlers": source}) == one
    (source / "a.py").write_text("x = 2\n")
    two = staged_context(tmp_path / "build", "gpu", {"handlers": source})
    assert two != one and (two / "handlers" / "a.py").read_text() == "x = 2\n"


def test_lambda_requirements_prefer_the_pinned_lock():
    assert lambda_requirements(REPO_ROOT).name in {"requirements-lambda.txt", "requirements.txt"}
    if (REPO_ROOT / "handlers/docker/requirements-lambda.txt").is_file():
        assert lambda_requirements(REPO_ROOT) == REPO_ROOT / "handlers/docker/requirements-lambda.txt"
