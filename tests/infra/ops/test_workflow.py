"""The example GitHub Actions workflow: valid against the workflow schema, safe, and calling
only ``maaskit`` commands that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from maaskit.cli import app

WORKFLOW = Path(__file__).resolve().parents[3] / ".github" / "workflows" / "maaskit.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def test_valid_against_the_github_workflow_schema() -> None:
    tool = shutil.which("check-jsonschema") or str(Path(sys.executable).with_name("check-jsonschema"))
    if not Path(tool).exists():
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    done = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_release_only_on_tags_with_oidc(workflow: dict[str, Any]) -> None:
    assert workflow["on"]["push"]["tags"] == ["v*.*.*"]
    assert workflow["permissions"] == {"contents": "read"}  # least privilege by default
    package, release = workflow["jobs"]["package"], workflow["jobs"]["release"]
    assert "permissions" not in package  # the build job never gets an AWS token
    assert release["if"] == "startsWith(github.ref, 'refs/tags/v')" and release["needs"] == "package"
    assert release["permissions"]["id-token"] == "write"
    aws = next(step for step in release["steps"] if step.get("uses", "").startswith("aws-actions/configure-aws"))
    assert "role-to-assume" in aws["with"] and "aws-secret-access-key" not in aws["with"]


def test_every_maaskit_command_exists(workflow: dict[str, Any]) -> None:
    import typer.main

    known = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    used = {
        match
        for job in workflow["jobs"].values()
        for step in job["steps"]
        for match in re.findall(r"maaskit (\w+)", step.get("run", ""))
    }
    assert used >= {"package", "verify", "synth", "push", "deploy", "status"}
    assert used <= known, f"the workflow calls commands maaskit lacks: {sorted(used - known)}"
