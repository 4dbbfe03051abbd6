"""Assertions on the synthesized stage: the resources that carry the product's promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import HOST_ARCH, Synth

pytestmark = pytest.mark.slow


def _alias(synth: Synth) -> dict:
    return synth.one("AWS::Lambda::Alias")["Properties"]


def _function(synth: Synth, name: str) -> dict:
    found = [
        r["Properties"]
        for r in synth.resources("AWS::Lambda::Function").values()
        if r["Properties"].get("FunctionName") == name
    ]
    assert len(found) == 1, f"no function {name}"
    return found[0]


def _ref_id(value: dict) -> str:
    return value.get("Ref") or value["Fn::GetAtt"][0]


# --- Lambda target ---------------------------------------------------------------------------------------


def test_lambda_defaults(default_synth: Synth):
    function = _function(default_synth, "maaskit-dev-iris")
    assert function["Environment"]["Variables"]["MAASKIT_PAGE"] == "false"
    assert function["Architectures"] == ["arm64"]
    assert function["MemorySize"] == 2048
    assert function["Handler"] == "handlers.lambda_entry.handler"
    assert function["Runtime"] == "python3.11"
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["Environment"]["Variables"]["MAASKIT_BUNDLES"] == "/var/task/bundles"
    assert "ReservedConcurrentExecutions" not in function
    assert len(function["Layers"]) == 1
    layer = default_synth.one("AWS::Lambda::LayerVersion")["Properties"]
    assert layer["CompatibleArchitectures"] == ["arm64"]
    assert "ProvisionedConcurrencyConfig" not in _alias(default_synth)


def test_version_is_named_after_the_bundle_and_alias_live_points_at_it(default_synth: Synth):
    versions = default_synth.resources("AWS::Lambda::Version")
    assert len(versions) == 1
    ((version_id, version),) = versions.items()
    from infra.names import parse_version_description

    tag = parse_version_description(version["Properties"]["Description"])
    assert tag is not None and (tag.model, tag.version) == ("iris", "1.0.0") and len(str(tag.sha256)) == 64
    assert version["DeletionPolicy"] == "Retain"  # CodeDeploy shifts from the previous version
    alias = _alias(default_synth)
    assert alias["Name"] == "live"
    assert alias["FunctionVersion"]["Fn::GetAtt"][0] == version_id


def test_deployment_group_uses_predefined_canary_by_default(default_synth: Synth):
    group = default_synth.one("AWS::CodeDeploy::DeploymentGroup")["Properties"]
    application = default_synth.one("AWS::CodeDeploy::Application")["Properties"]
    assert application == {"ApplicationName": "maaskit-dev-iris", "ComputePlatform": "Lambda"}
    assert group["DeploymentGroupName"] == "live"  # the names infra/ops looks up
    assert group["DeploymentConfigName"] == {
        "Fn::Join": ["", ["CodeDeployDefault.Lambda", "Canary10Percent5Minutes"]]
    } or ("Canary10Percent5Minutes" in json.dumps(group["DeploymentConfigName"]))
    assert group["AutoRollbackConfiguration"] == {
        "Enabled": True,
        "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
    }
    assert not default_synth.resources("AWS::CodeDeploy::DeploymentConfig")


def test_alarms_on_the_alias_are_wired_to_rollback(default_synth: Synth):
    group = default_synth.one("AWS::CodeDeploy::DeploymentGroup")["Properties"]
    wired = {a["Name"]["Ref"] for a in group["AlarmConfiguration"]["Alarms"]}
    alarms = default_synth.resources("AWS::CloudWatch::Alarm")
    lambda_alarms = {k: v["Properties"] for k, v in alarms.items() if k in wired}
    assert {p["MetricName"] for p in lambda_alarms.values()} == {"Errors", "Throttles", "Duration"}
    for props in lambda_alarms.values():
        dims = {d["Name"]: d["Value"] for d in props["Dimensions"]}
        assert "Resource" in dims, "alarm must watch the alias, not the whole function"
        assert "live" in json.dumps(dims["Resource"])
    p99 = next(p for p in lambda_alarms.values() if p["MetricName"] == "Duration")
    assert p99["ExtendedStatistic"] == "p99"
    assert group["AlarmConfiguration"]["Enabled"] is True


def test_pre_traffic_hook_targets_the_new_version_and_may_report_status(default_synth: Synth):
    hook = _function(default_synth, "maaskit-dev-iris-pre-traffic")
    version_id = next(iter(default_synth.resources("AWS::Lambda::Version")))
    assert hook["Environment"]["Variables"]["TARGET_VERSION_ARN"] == {"Ref": version_id}
    group = default_synth.one("AWS::CodeDeploy::DeploymentGroup")
    policies = default_synth.resources("AWS::IAM::Policy")
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    invoke = [s for s in statements if s["Action"] == "lambda:InvokeFunction" and s["Resource"] == {"Ref": version_id}]
    assert invoke, "the hook must be allowed to invoke the new version (and only it)"
    status = [s for s in statements if s["Action"] == "codedeploy:PutLifecycleEventHookExecutionStatus"]
    assert status and "*" not in json.dumps(status[0]["Resource"]).replace(":*", "")
    assert group["Properties"]["DeploymentConfigName"]  # the hook is attached through CDK's pre_hook
    assert default_synth.stack.lambda_endpoints["iris"].deployment_group.node.metadata is not None


def test_lambda_overrides(custom_synth: Synth):
    function = _function(custom_synth, "maaskit-prod-iris")
    assert function["Architectures"] == [HOST_ARCH]
    assert function["MemorySize"] == 1024
    assert function["ReservedConcurrentExecutions"] == 50
    assert function["Environment"]["Variables"]["MAASKIT_PAGE"] == "true"  # the model page, opted in
    assert _alias(custom_synth)["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    targets = custom_synth.resources("AWS::ApplicationAutoScaling::ScalableTarget").values()
    (target,) = [t["Properties"] for t in targets if t["Properties"]["ScalableDimension"].startswith("lambda:")]
    assert target["ScalableDimension"] == "lambda:function:ProvisionedConcurrency"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    assert "AWSServiceRoleForApplicationAutoScaling_LambdaConcurrency" in json.dumps(target["RoleARN"])
    policy = next(
        p["Properties"]
        for p in custom_synth.resources("AWS::ApplicationAutoScaling::ScalingPolicy").values()
        if "ProvisionedConcurrency" in json.dumps(p)
    )
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 0.6
    log_groups = [g["Properties"] for g in custom_synth.resources("AWS::Logs::LogGroup").values()]
    assert {"LogGroupName": "/aws/lambda/maaskit-prod-iris", "RetentionInDays": 14}.items() <= next(
        g for g in log_groups if g.get("LogGroupName") == "/aws/lambda/maaskit-prod-iris"
    ).items()


def test_custom_rollout_creates_its_own_deployment_config(custom_synth: Synth):
    config = custom_synth.one("AWS::CodeDeploy::DeploymentConfig")["Properties"]
    assert config["ComputePlatform"] == "Lambda"
    assert config["TrafficRoutingConfig"] == {
        "Type": "TimeBasedLinear",
        "TimeBasedLinear": {"LinearInterval": 2, "LinearPercentage": 20},
    }
    alarms = [a["Properties"] for a in custom_synth.resources("AWS::CloudWatch::Alarm").values()]
    throttles = next(a for a in alarms if a["MetricName"] == "Throttles")
    assert (throttles["Threshold"], throttles["EvaluationPeriods"]) == (7, 3)


# --- SageMaker target ------------------------------------------------------------------------------------


def test_sagemaker_defaults(default_synth: Synth):
    config = default_synth.one("AWS::SageMaker::EndpointConfig")["Properties"]
    (variant,) = config["ProductionVariants"]
    assert variant["InstanceType"] == "ml.g5.xlarge"
    assert (variant["InitialInstanceCount"], variant["InitialVariantWeight"], variant["VariantName"]) == (
        1,
        1,
        "primary",
    )
    endpoint = default_synth.one("AWS::SageMaker::Endpoint")["Properties"]
    assert endpoint["EndpointName"] == "maaskit-dev-diabetes"
    policy = endpoint["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert policy == {
        "Type": "CANARY",
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
        "WaitIntervalInSeconds": 300,
    }
    rollback = {a["AlarmName"] for a in endpoint["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]}
    assert rollback == {"maaskit-dev-diabetes-primary-errors", "maaskit-dev-diabetes-primary-p99"}
    alarm_names = {a["Properties"].get("AlarmName") for a in default_synth.resources("AWS::CloudWatch::Alarm").values()}
    assert rollback <= alarm_names
    model = default_synth.one("AWS::SageMaker::Model")["Properties"]
    assert {"Key": "maaskit:version", "Value": "1.0.0"} in model["Tags"]  # read by infra/ops
    assert model["EnableNetworkIsolation"] is True
    assert "ModelDataUrl" in model["PrimaryContainer"] and "Image" in model["PrimaryContainer"]


def test_sagemaker_autoscaling_on_invocations_per_instance(default_synth: Synth):
    target = default_synth.one("AWS::ApplicationAutoScaling::ScalableTarget")
    props = target["Properties"]
    assert props["ResourceId"] == "endpoint/maaskit-dev-diabetes/variant/primary"
    assert props["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert (props["MinCapacity"], props["MaxCapacity"]) == (1, 2)
    assert "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint" in json.dumps(props["RoleARN"])
    policy = default_synth.one("AWS::ApplicationAutoScaling::ScalingPolicy")["Properties"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert tracking["TargetValue"] == 600
    endpoint_id = next(iter(default_synth.resources("AWS::SageMaker::Endpoint")))
    assert endpoint_id in target.get("DependsOn", [])


def test_sagemaker_overrides_with_ab_challenger(custom_synth: Synth):
    config = custom_synth.one("AWS::SageMaker::EndpointConfig")["Properties"]
    variants = {v["VariantName"]: v for v in config["ProductionVariants"]}
    assert set(variants) == {"primary", "challenger"}
    assert variants["primary"]["InitialVariantWeight"] == pytest.approx(0.8)
    assert variants["challenger"]["InitialVariantWeight"] == pytest.approx(0.2)
    assert {v["InstanceType"] for v in variants.values()} == {"ml.g4dn.2xlarge"}
    assert len(custom_synth.resources("AWS::SageMaker::Model")) == 2
    endpoint = custom_synth.one("AWS::SageMaker::Endpoint")["Properties"]
    routing = endpoint["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["CanarySize"]["Value"] == 25 and routing["WaitIntervalInSeconds"] == 900
    targets = [
        t["Properties"]["ResourceId"]
        for t in custom_synth.resources("AWS::ApplicationAutoScaling::ScalableTarget").values()
    ]
    assert "endpoint/maaskit-prod-diabetes/variant/challenger" in targets


# --- API, IAM, registry, observability -------------------------------------------------------------------


def test_api_defaults_to_iam_auth_on_every_method(default_synth: Synth):
    methods = [m["Properties"] for m in default_synth.resources("AWS::ApiGateway::Method").values()]
    assert methods
    assert {m["AuthorizationType"] for m in methods} == {"AWS_IAM"}
    paths = default_synth.resources("AWS::ApiGateway::Resource")
    parts = {r["Properties"]["PathPart"] for r in paths.values()}
    assert {"models", "iris", "predict", "{proxy+}", "v2", "v1", "iris:predict", "diabetes", "invocations"} <= parts
    stage = default_synth.one("AWS::ApiGateway::Stage")["Properties"]
    assert stage["StageName"] == "dev" and stage["TracingEnabled"] is True
    assert "AccessLogSetting" in stage
    settings = stage["MethodSettings"][0]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (100, 200)
    assert default_synth.resources("AWS::ApiGateway::RequestValidator")


def test_api_key_auth_with_usage_plan_and_stage_override(custom_synth: Synth):
    methods = [m["Properties"] for m in custom_synth.resources("AWS::ApiGateway::Method").values()]
    assert all(m["ApiKeyRequired"] is True for m in methods)
    plan = custom_synth.one("AWS::ApiGateway::UsagePlan")["Properties"]
    assert plan["Quota"] == {"Limit": 10000, "Period": "DAY"}
    assert custom_synth.resources("AWS::ApiGateway::UsagePlanKey")
    settings = custom_synth.one("AWS::ApiGateway::Stage")["Properties"]["MethodSettings"][0]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (500, 80)  # prod override merged


def test_sagemaker_route_is_a_direct_integration_scoped_to_one_endpoint(default_synth: Synth):
    methods = [m["Properties"] for m in default_synth.resources("AWS::ApiGateway::Method").values()]
    direct = [m for m in methods if m["Integration"]["Type"] == "AWS"]
    assert len(direct) == 3  # GET /models/diabetes, predict and invocations
    routes = sorted(
        m["Integration"]["RequestParameters"].get("integration.request.header.X-Amzn-SageMaker-Custom-Attributes", "")
        for m in direct
    )
    # the container's own /invocations, and the maaskit routes it runs for the API (handlers.tunnel)
    assert routes == ["", "'maaskit-route=GET /models/diabetes'", "'maaskit-route=POST /models/diabetes/predict'"]
    uri = json.dumps(direct[0]["Integration"]["Uri"])
    assert "runtime.sagemaker:path/endpoints/maaskit-dev-diabetes/invocations" in uri
    role_id = _ref_id(direct[0]["Integration"]["Credentials"])
    policies = [
        p["Properties"]
        for p in default_synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    statements = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
    assert [s["Action"] for s in statements] == ["sagemaker:InvokeEndpoint"]
    assert "endpoint/maaskit-dev-diabetes" in json.dumps(statements[0]["Resource"])


def test_no_wildcard_actions_anywhere(default_synth: Synth, custom_synth: Synth):
    for synth in (default_synth, custom_synth):
        for policy in synth.resources("AWS::IAM::Policy").values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert not [a for a in actions if a.endswith("*")], statement


def test_registry_bucket_is_versioned_encrypted_tls_only_and_named_in_ssm(default_synth: Synth):
    buckets = default_synth.resources("AWS::S3::Bucket")
    registry = next(b["Properties"] for b in buckets.values() if b["Properties"].get("VersioningConfiguration"))
    assert registry["VersioningConfiguration"] == {"Status": "Enabled"}
    assert registry["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    policies = [p["Properties"]["PolicyDocument"] for p in default_synth.resources("AWS::S3::BucketPolicy").values()]
    assert all(
        any(s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false" for s in p["Statement"])
        for p in policies
    )
    assert len(policies) == len(buckets)
    parameter = default_synth.one("AWS::SSM::Parameter")["Properties"]
    assert parameter["Name"] == "/maaskit/dev/registry-bucket"


def test_dashboard_and_log_retention(default_synth: Synth):
    dashboard = default_synth.one("AWS::CloudWatch::Dashboard")["Properties"]
    body = json.dumps(dashboard["DashboardBody"])
    assert "ExecutedVersion" in body and "maaskit-dev-iris" in body and "maaskit-dev-diabetes" in body
    for group in default_synth.resources("AWS::Logs::LogGroup").values():
        assert group["Properties"].get("RetentionInDays"), group


# --- Policy checks ---------------------------------------------------------------------------------------


def test_cdk_nag_reports_no_unacknowledged_finding(default_synth: Synth, custom_synth: Synth):
    # A finding would have made app.synth() raise ValidationFailed (see test_api); the report says none.
    assert default_synth.nag_report["title"] == "Validation Report"
    assert default_synth.violations() == []
    assert custom_synth.violations() == []


def test_cfn_lint_reports_no_error(default_synth: Synth, custom_synth: Synth):
    templates = [str(s.outdir / f"{s.stack.stack_name}.template.json") for s in (default_synth, custom_synth)]
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", *templates],
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ":E" in line]
    assert errors == [], result.stdout
    assert result.returncode in (0, 4, 8), result.stderr  # 4/8: warnings/informational only


def test_function_roles_write_only_their_own_log_group(default_synth: Synth):
    function = _function(default_synth, "maaskit-dev-iris")
    role_id = function["Role"]["Fn::GetAtt"][0]
    role = default_synth.template["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role  # no AWSLambdaBasicExecutionRole (logs on every group)
    policies = [
        p["Properties"]
        for p in default_synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    statements = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
    logs = next(s for s in statements if "logs:PutLogEvents" in s["Action"])
    log_group_id = logs["Resource"]["Fn::GetAtt"][0]
    assert (
        default_synth.template["Resources"][log_group_id]["Properties"]["LogGroupName"]
        == "/aws/lambda/maaskit-dev-iris"
    )
