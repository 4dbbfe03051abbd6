"""Map a :class:`~infra.config.RolloutConfig` onto CodeDeploy (Lambda) and SageMaker blue/green policies."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.config import RolloutConfig

__all__ = ["lambda_deployment_config", "predefined_lambda_config_name", "sagemaker_deployment_config"]

_PREDEFINED_CANARY = {(10, 5), (10, 10), (10, 15), (10, 30)}
_PREDEFINED_LINEAR = {(10, 1), (10, 2), (10, 3), (10, 10)}


def predefined_lambda_config_name(rollout: RolloutConfig) -> str | None:
    """The CDK (Python) name of the predefined CodeDeploy config matching ``rollout``; None: a custom one is needed."""
    key = (rollout.percentage, rollout.interval_minutes)
    if rollout.strategy == "all_at_once":
        return "ALL_AT_ONCE"
    if rollout.strategy == "canary" and key in _PREDEFINED_CANARY:
        return f"CANARY_{key[0]}_PERCENT_{key[1]}_MINUTES"
    if rollout.strategy == "linear" and key in _PREDEFINED_LINEAR:
        suffix = "MINUTE" if key[1] == 1 else "MINUTES"
        return f"LINEAR_{key[0]}_PERCENT_EVERY_{key[1]}_{suffix}"
    return None


def lambda_deployment_config(scope: Construct, rollout: RolloutConfig) -> codedeploy.ILambdaDeploymentConfig:
    """A predefined CodeDeploy Lambda config when one matches, else a custom one created in ``scope``."""
    name = predefined_lambda_config_name(rollout)
    if name is not None:
        config: codedeploy.ILambdaDeploymentConfig = getattr(codedeploy.LambdaDeploymentConfig, name)
        return config
    interval = Duration.minutes(rollout.interval_minutes)
    routing: codedeploy.TrafficRouting
    if rollout.strategy == "canary":
        routing = codedeploy.TimeBasedCanaryTrafficRouting(interval=interval, percentage=rollout.percentage)
    else:
        routing = codedeploy.TimeBasedLinearTrafficRouting(interval=interval, percentage=rollout.percentage)
    return codedeploy.LambdaDeploymentConfig(scope, "DeploymentConfig", traffic_routing=routing)


def sagemaker_deployment_config(
    rollout: RolloutConfig, alarm_names: list[str], *, termination_wait_s: int = 300
) -> sagemaker.CfnEndpoint.DeploymentConfigProperty:
    """Blue/green update policy (canary, linear or all at once) with auto-rollback on ``alarm_names``."""
    wait = rollout.interval_minutes * 60
    step = sagemaker.CfnEndpoint.CapacitySizeProperty(type="CAPACITY_PERCENT", value=rollout.percentage)
    if rollout.strategy == "canary":
        routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
            type="CANARY", canary_size=step, wait_interval_in_seconds=wait
        )
        steps = 2
    elif rollout.strategy == "linear":
        routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
            type="LINEAR", linear_step_size=step, wait_interval_in_seconds=wait
        )
        steps = -(-100 // rollout.percentage)
    else:
        routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(type="ALL_AT_ONCE", wait_interval_in_seconds=0)
        steps = 1
    # Baking time per step plus the final wait, with room for instance provisioning (max 14400 s).
    maximum = min(14400, 1800 + steps * wait + termination_wait_s)
    return sagemaker.CfnEndpoint.DeploymentConfigProperty(
        blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
            traffic_routing_configuration=routing,
            termination_wait_in_seconds=termination_wait_s,
            maximum_execution_timeout_in_seconds=maximum,
        ),
        auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
            alarms=[sagemaker.CfnEndpoint.AlarmProperty(alarm_name=name) for name in alarm_names]
        ),
    )
