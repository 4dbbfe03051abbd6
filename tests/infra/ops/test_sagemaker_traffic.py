"""SageMaker production-variant weights against moto (in-process and server)."""

from __future__ import annotations

import pytest

from infra.ops.errors import NotFoundError, RefusedError
from infra.ops.sagemaker_traffic import apply_sagemaker_plan, read_sagemaker_state, sagemaker_models
from infra.ops.traffic import plan_promote, plan_rollback, plan_shift
from tests.infra.ops.conftest import Aws

ENDPOINT = "maaskit-dev-resnet"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/maaskit:1"


def deploy_endpoint(aws: Aws, weights: dict[str, float], names: dict[str, str] | None = None, tag: bool = True) -> None:
    """One variant per bundle version, each on a Model tagged ``maaskit:version`` (as the CDK app does)."""
    client = aws.session.client("sagemaker")
    variants = []
    for version, weight in weights.items():
        model = f"{ENDPOINT}-{version.replace('.', '-')}"
        tags = [{"Key": "maaskit:version", "Value": version}] if tag else []
        client.create_model(ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE}, Tags=tags)
        variants.append(
            {
                "VariantName": (names or {}).get(version, f"v{version.replace('.', '-')}"),
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": weight,
            }
        )
    client.create_endpoint_config(EndpointConfigName=f"{ENDPOINT}-config", ProductionVariants=variants)
    client.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"{ENDPOINT}-config")


def test_shift_promote_rollback_on_variants(aws: Aws) -> None:
    deploy_endpoint(aws, {"1.0.0": 1.0, "2.0.0": 0.0})
    session = aws.session
    state = read_sagemaker_state(session, "dev", "resnet")
    assert [(s.id, s.model_version, s.detail) for s in state.slots] == [
        ("v1-0-0", "1.0.0", "1 x ml.m5.large"),
        ("v2-0-0", "2.0.0", "1 x ml.m5.large"),
    ]
    assert (state.primary, state.weights, state.deployment) == ("v1-0-0", {"v1-0-0": 100.0}, None)
    assert sagemaker_models(session, "dev") == ["resnet"]

    apply_sagemaker_plan(session, plan_shift(state, "2.0.0", 10))
    weights = {
        v["VariantName"]: v["CurrentWeight"]
        for v in session.client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]
    }
    assert weights == {"v1-0-0": 90.0, "v2-0-0": 10.0}
    split = read_sagemaker_state(session, "dev", "resnet")
    assert (split.primary, split.shifting_to) == ("v1-0-0", "v2-0-0")

    apply_sagemaker_plan(session, plan_promote(split))
    promoted = read_sagemaker_state(session, "dev", "resnet")
    assert promoted.weights == {"v2-0-0": 100.0} and promoted.previous == "v1-0-0"

    apply_sagemaker_plan(session, plan_rollback(promoted))
    assert read_sagemaker_state(session, "dev", "resnet").weights == {"v1-0-0": 100.0}


def test_relative_weights_are_shown_as_percent(aws: Aws) -> None:
    deploy_endpoint(aws, {"1.0.0": 3.0, "2.0.0": 1.0})
    state = read_sagemaker_state(aws.session, "dev", "resnet")
    assert state.weights == {"v1-0-0": 75.0, "v2-0-0": 25.0}
    assert state.shifting_to == "v2-0-0"


def test_untagged_primary_and_challenger(aws: Aws) -> None:
    """Without version tags the CDK app's variant names decide: the challenger is being shifted to."""
    deploy_endpoint(aws, {"2.0.0": 0.4, "1.0.0": 0.6}, names={"2.0.0": "challenger", "1.0.0": "primary"}, tag=False)
    state = read_sagemaker_state(aws.session, "dev", "resnet")
    assert (state.primary, state.shifting_to) == ("primary", "challenger")
    assert state.slot("challenger").label == "variant challenger (not maaskit)"
    apply_sagemaker_plan(aws.session, plan_shift(state, "challenger", 60))
    assert read_sagemaker_state(aws.session, "dev", "resnet").weights == {"primary": 40.0, "challenger": 60.0}


def test_missing_endpoint(aws: Aws) -> None:
    with pytest.raises(NotFoundError, match="endpoint maaskit-dev-resnet does not exist"):
        read_sagemaker_state(aws.session, "dev", "resnet")


def test_updating_endpoint_refuses_changes() -> None:
    """moto's endpoints settle at once, so the Updating status comes from a recorded response shape."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("sagemaker", region_name="eu-west-1")
    stub = Stubber(client)
    stub.add_response(
        "describe_endpoint",
        {
            "EndpointName": ENDPOINT,
            "EndpointArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{ENDPOINT}",
            "EndpointConfigName": "cfg-2",
            "EndpointStatus": "Updating",
            "CreationTime": "2026-01-01T00:00:00Z",
            "LastModifiedTime": "2026-01-01T00:00:00Z",
            "ProductionVariants": [
                {"VariantName": "v1", "CurrentWeight": 1.0, "DesiredWeight": 0.0, "CurrentInstanceCount": 1}
            ],
        },
    )
    stub.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": "cfg-2",
            "EndpointConfigArn": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint-config/cfg-2",
            "CreationTime": "2026-01-01T00:00:00Z",
            "ProductionVariants": [{"VariantName": "v1", "ModelName": "m1", "InstanceType": "ml.g5.xlarge"}],
        },
    )
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:model/m1"
    stub.add_response(
        "describe_model",
        {"ModelName": "m1", "ModelArn": arn, "CreationTime": "2026-01-01T00:00:00Z", "ExecutionRoleArn": ROLE},
    )
    stub.add_response("list_tags", {"Tags": [{"Key": "maaskit:version", "Value": "1.0.0"}]}, {"ResourceArn": arn})

    class Session:
        def client(self, service: str) -> object:
            assert service == "sagemaker"
            return client

    with stub:
        state = read_sagemaker_state(Session(), "dev", "resnet")
    assert state.status == "Updating"
    with pytest.raises(RefusedError, match="endpoint is Updating"):
        plan_rollback(state)
