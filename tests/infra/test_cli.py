"""``maaskit synth`` / ``maaskit deploy``: config errors exit 2 before CDK starts; synth runs the real CDK CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra import cli
from maaskit.cli import app
from tests.infra.conftest import REPO_ROOT

runner = CliRunner()


def test_bad_config_exits_2_with_the_key(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("endpoints:\n  - {name: iris, bundle: b, target: ec2}\n")
    result = runner.invoke(app, ["synth", "--config", str(bad)])
    assert result.exit_code == 2
    assert "endpoints.0.target: got 'ec2'; allowed values: 'lambda', 'sagemaker' or 'auto'" in result.output


def test_bad_stage_and_approval_exit_2():
    assert runner.invoke(app, ["deploy", "--stage", "Prod!"]).exit_code == 2
    result = runner.invoke(app, ["deploy", "--require-approval", "maybe"])
    assert result.exit_code == 2 and "never, any-change, broadening" in result.output


def test_missing_cdk_cli_says_to_run_npm_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    original = cli.find_cdk

    def missing() -> Path:
        return original(tmp_path)

    monkeypatch.setattr(cli, "find_cdk", missing)
    result = runner.invoke(app, ["synth", "--config", str(REPO_ROOT / "maaskit.deploy.yaml")])
    assert result.exit_code == 2 and "npm ci" in result.output


def test_cdk_command_passes_stage_config_and_nag():
    command = cli.cdk_command(Path("/x/cdk"), "synth", Path("maaskit.deploy.yaml"), "prod", "--quiet")
    assert command[:2] == ["/x/cdk", "synth"]
    assert "maaskit:stage=prod" in command and "maaskit:nag=true" in command
    assert f"maaskit:config={(Path.cwd() / 'maaskit.deploy.yaml')}" in command


@pytest.mark.slow
@pytest.mark.skipif(not (REPO_ROOT / "node_modules/.bin/cdk").is_file(), reason="npm ci not run")
def test_synth_of_the_example_config_through_the_cdk_cli(tmp_path: Path):
    out = tmp_path / "cdk.out"
    result = runner.invoke(
        app, ["synth", "--stage", "dev", "--output", str(out), "--config", str(REPO_ROOT / "maaskit.deploy.yaml")]
    )
    assert result.exit_code == 0, result.output
    template = json.loads((out / "maaskit-dev.template.json").read_text())
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::Lambda::Alias", "AWS::SageMaker::Endpoint", "AWS::ApiGateway::RestApi"} <= kinds
    report = json.loads((out / "validation-report.json").read_text())
    assert [v for p in report["pluginReports"] for v in p["violations"]] == []
