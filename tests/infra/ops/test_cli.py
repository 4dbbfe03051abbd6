"""The release commands as a user runs them: bucket resolution, --json, exit codes, listing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.ops.bucket import resolve_bucket
from infra.ops.errors import ConfigurationError
from maaskit.cli import app
from tests.infra.ops.conftest import Aws, build_bundle, deploy_lambda
from tests.infra.ops.test_sagemaker_traffic import deploy_endpoint

runner = CliRunner()


def test_bucket_precedence(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match=r"SSM parameter /maaskit/qa/registry-bucket does not exist.*--bucket"):
        resolve_bucket(aws.session, stage="qa")
    aws.session.client("ssm").put_parameter(Name="/maaskit/qa/registry-bucket", Value="from-ssm", Type="String")
    assert resolve_bucket(aws.session, stage="qa") == "from-ssm"
    monkeypatch.setenv("MAASKIT_REGISTRY_BUCKET", "from-env")
    assert resolve_bucket(aws.session, stage="qa") == "from-env"
    assert resolve_bucket(aws.session, bucket="from-flag", stage="qa") == "from-flag"


def test_registry_commands_json_and_pull(aws: Aws, registry_bucket: str, tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path / "b", "1.2.0")
    assert runner.invoke(app, ["push", str(bundle.directory), "--bucket", registry_bucket]).exit_code == 0
    listed = runner.invoke(app, ["models", "--bucket", registry_bucket, "--json"])
    assert listed.exit_code == 0
    assert [(m["name"], m["versions"], m["latest"]) for m in json.loads(listed.stdout)] == [("double", 1, "1.2.0")]
    versions = json.loads(runner.invoke(app, ["versions", "double", "--bucket", registry_bucket, "--json"]).stdout)
    assert versions[0]["parity"]["passed"] is True and versions[0]["size"] == bundle.archive.stat().st_size
    pulled = runner.invoke(
        app, ["pull", "double", "1.2.0", "--out", str(tmp_path / "got"), "--bucket", registry_bucket]
    )
    assert pulled.exit_code == 0 and "pulled and verified double 1.2.0" in pulled.output
    assert (tmp_path / "got" / "double-1.2.0" / "model.onnx").is_file()


def test_errors_exit_2_with_a_message(aws: Aws, registry_bucket: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["versions", "ghost", "--bucket", registry_bucket])
    assert result.exit_code == 2
    assert result.output.startswith("error: no model 'ghost'") and "Traceback" not in result.output
    result = runner.invoke(app, ["push", str(tmp_path / "nope.tar.gz"), "--bucket", registry_bucket])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(app, ["status", "ghost"])
    assert (
        result.exit_code == 2
        and "neither a Lambda function nor a SageMaker endpoint named maaskit-dev-ghost" in result.output
    )
    result = runner.invoke(app, ["shift", "ghost", "--to", "1.0.0", "--percent", "10", "--target", "ecs"])
    assert result.exit_code == 2 and "--target must be auto, lambda or sagemaker" in result.output


def test_no_region_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    result = runner.invoke(app, ["status", "x"])
    assert result.exit_code == 2 and "no AWS region: pass --region or set AWS_REGION" in result.output


def test_status_of_the_whole_stage(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    deploy_lambda(aws.session, "maaskit-dev-iris", [("1.0.0", "b" * 64)])
    deploy_endpoint(aws, {"1.0.0": 1.0, "2.0.0": 1.0})
    out = runner.invoke(app, ["status"])
    assert out.exit_code == 0, out.output
    assert "iris on Lambda: maaskit-dev-iris:live" in out.output
    assert "resnet on SageMaker: maaskit-dev-resnet (InService)" in out.output
    assert "traffic: 50% -> variant v1-0-0 (1.0.0), 50% -> variant v2-0-0 (2.0.0)" in out.output
    data = json.loads(runner.invoke(app, ["status", "--json", "--stage", "dev"]).stdout)
    assert [(s["target"], s["model"]) for s in data] == [("lambda", "iris"), ("sagemaker", "resnet")]
    dry = runner.invoke(app, ["promote", "resnet", "--dry-run"])
    assert "would promote maaskit-dev-resnet: 100% -> variant v2-0-0 (2.0.0)" in dry.output
