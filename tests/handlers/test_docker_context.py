"""What each image's build context sends to the Dockerfile: the runtime sources, the bundle package
and pyproject.toml in every image, nothing of the packager, infra or CLI, and on the Lambda image not
the modules the Lambda zip leaves out either. Matched with docker-py's .dockerignore rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker.utils.build import exclude_paths

from infra.packaging import LAMBDA_LEFT_OUT, RUNTIME_SOURCES, runtime_sources, staged_context

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER = REPO_ROOT / "handlers" / "docker"


def _sent(context: Path, dockerfile: str) -> set[str]:
    """Files of ``context`` that BuildKit sends for ``dockerfile`` (its ``.dockerignore`` applied)."""
    ignore = (DOCKER / f"{dockerfile}.dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    return {path for path in exclude_paths(str(context), patterns) if (context / path).is_file()}


def _copied(dockerfile: str) -> list[str]:
    text = (DOCKER / dockerfile).read_text()
    return [line.split()[-2].rstrip("/") for line in text.splitlines() if line.startswith("COPY")]


@pytest.mark.parametrize("dockerfile", ["Dockerfile.lambda", "Dockerfile.gpu"])
def test_every_image_copies_the_runtime_sources(dockerfile: str):
    assert set(RUNTIME_SOURCES) <= set(_copied(dockerfile))


@pytest.mark.parametrize("dockerfile", ["Dockerfile.lambda", "Dockerfile.gpu"])
def test_the_repository_root_as_context_sends_only_the_runtime(dockerfile: str):
    sent = _sent(REPO_ROOT, dockerfile)
    assert {"bundle/__init__.py", "bundle/wire.py", "pyproject.toml", "handlers/app.py"} <= sent
    tops = {path.split("/")[0] for path in sent}
    assert tops <= {"handlers", "bundle", "pyproject.toml", "bundles"}, tops


def test_the_lambda_image_leaves_out_what_the_zip_leaves_out(tmp_path: Path):
    bundle_dir = tmp_path / "iris-1.0.0"
    bundle_dir.mkdir()
    (bundle_dir / "manifest.json").write_text("{}")
    trees = {**runtime_sources(REPO_ROOT), f"bundles/{bundle_dir.name}": bundle_dir}
    context = staged_context(tmp_path / "build", "lambda", trees)
    sent = _sent(context, "Dockerfile.lambda")
    assert "bundles/iris-1.0.0/manifest.json" in sent and "handlers/lambda_entry.py" in sent
    assert "handlers/docker/requirements-lambda.txt" in sent  # the lock the image installs
    for relative in LAMBDA_LEFT_OUT:
        if relative != "handlers/docker":
            assert relative not in sent, f"{relative} would ship in the Lambda image"


def test_the_gpu_image_keeps_its_entry(tmp_path: Path):
    context = staged_context(tmp_path / "build", "gpu", runtime_sources(REPO_ROOT))
    sent = _sent(context, "Dockerfile.gpu")
    assert {"handlers/sagemaker_entry.py", "bundle/reader.py", "pyproject.toml"} <= sent
