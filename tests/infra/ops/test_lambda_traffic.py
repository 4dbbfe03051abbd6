"""Lambda alias traffic against moto (in-process and server), CodeDeploy included."""

from __future__ import annotations

import pytest

from infra.ops.errors import NotFoundError, RefusedError
from infra.ops.lambda_traffic import apply_lambda_plan, lambda_models, read_lambda_state
from infra.ops.traffic import plan_promote, plan_rollback, plan_shift
from tests.infra.ops.conftest import Aws, deploy_lambda

SHA = "a" * 64
FUNCTION = "maaskit-dev-iris"


@pytest.fixture
def deployed(aws: Aws) -> Aws:
    deploy_lambda(aws.session, FUNCTION, [("1.0.0", SHA), ("1.1.0", SHA), ("2.0.0", SHA)])
    return aws


def test_reads_versions_alias_and_weights(deployed: Aws) -> None:
    state = read_lambda_state(deployed.session, "dev", "iris")
    assert [(s.id, s.model_version) for s in state.slots] == [("1", "1.0.0"), ("2", "1.1.0"), ("3", "2.0.0")]
    assert (state.primary, state.weights, state.shifting_to, state.deployment) == ("1", {"1": 100.0}, None, None)
    assert state.resource == "maaskit-dev-iris:live"
    apply_lambda_plan(deployed.session, plan_shift(state, "2.0.0", 25))
    alias = deployed.session.client("lambda").get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"3": 0.25}
    split = read_lambda_state(deployed.session, "dev", "iris")
    assert split.weights == {"1": 75.0, "3": 25.0} and split.shifting_to == "3"
    assert lambda_models(deployed.session, "dev") == ["iris"]


def test_rollback_target_is_recorded_at_promote_and_ignored_when_stale(deployed: Aws) -> None:
    session = deployed.session
    client = session.client("lambda")
    # promote --to 2.0.0 straight from 1: rollback must return to 1, not to 2 (the version before by number).
    apply_lambda_plan(session, plan_promote(read_lambda_state(session, "dev", "iris"), "2.0.0"))
    state = read_lambda_state(session, "dev", "iris")
    assert state.previous == "1"
    assert client.get_alias(FunctionName=FUNCTION, Name="live")["Description"] == "maaskit live=3 previous=1"
    apply_lambda_plan(session, plan_rollback(state))
    after = read_lambda_state(session, "dev", "iris")
    assert after.primary == "1" and after.previous is None  # nothing older than 1: no flip-flop back to 3
    # CodeDeploy moves the alias without touching its description: the note no longer describes it.
    client.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="3")
    assert read_lambda_state(session, "dev", "iris").previous == "2"  # the version before by number


def test_versions_not_deployed_by_maaskit_are_never_rollback_targets(aws: Aws) -> None:
    deploy_lambda(aws.session, FUNCTION, [("1.0.0", SHA), ("2.0.0", SHA)])
    client = aws.session.client("lambda")
    client.update_function_code(FunctionName=FUNCTION, ZipFile=b"PK\x05\x06" + b"\0" * 18)
    client.publish_version(FunctionName=FUNCTION, Description="hotfix by hand")
    client.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="3")
    state = read_lambda_state(aws.session, "dev", "iris")
    assert state.slot("3").model_version is None and state.previous == "2"


def test_codedeploy_deployment_in_progress_refuses_changes(deployed: Aws) -> None:
    codedeploy = deployed.session.client("codedeploy")
    codedeploy.create_application(applicationName=FUNCTION, computePlatform="Lambda")
    codedeploy.create_deployment_group(
        applicationName=FUNCTION,
        deploymentGroupName="live",
        serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy",
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    )
    deployment = codedeploy.create_deployment(applicationName=FUNCTION, deploymentGroupName="live")["deploymentId"]
    state = read_lambda_state(deployed.session, "dev", "iris")
    assert state.deployment is not None and deployment in state.deployment
    with pytest.raises(RefusedError, match=f"{deployment} is Created.*Wait for it to finish"):
        plan_shift(state, "2.0.0", 10)


def test_missing_function_or_alias(aws: Aws) -> None:
    with pytest.raises(NotFoundError, match="maaskit-dev-iris or its alias 'live' does not exist"):
        read_lambda_state(aws.session, "dev", "iris")


def test_alias_on_latest_is_shown_and_shift_refused(deployed: Aws) -> None:
    deployed.session.client("lambda").update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="$LATEST")
    state = read_lambda_state(deployed.session, "dev", "iris")
    assert state.slot("$LATEST").label == "version $LATEST (not maaskit)"
    assert any("points at $LATEST" in note for note in state.notes)
    with pytest.raises(RefusedError, match=r"\$LATEST, which cannot share traffic"):
        plan_shift(state, "2.0.0", 10)
    assert plan_promote(state, "2.0.0").weights == {"3": 100.0}
