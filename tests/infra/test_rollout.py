"""Rollout policies map onto CodeDeploy's predefined Lambda configs when one matches, else custom ones."""

from __future__ import annotations

import pytest

from infra.config import RolloutConfig
from infra.rollout import predefined_lambda_config_name


@pytest.mark.parametrize(
    ("strategy", "percentage", "interval", "name"),
    [
        ("canary", 10, 5, "CANARY_10_PERCENT_5_MINUTES"),
        ("canary", 10, 30, "CANARY_10_PERCENT_30_MINUTES"),
        ("linear", 10, 1, "LINEAR_10_PERCENT_EVERY_1_MINUTE"),
        ("linear", 10, 3, "LINEAR_10_PERCENT_EVERY_3_MINUTES"),
        ("all_at_once", 50, 7, "ALL_AT_ONCE"),
        ("canary", 20, 5, None),
        ("linear", 10, 4, None),
    ],
)
def test_predefined_names(strategy, percentage, interval, name):
    rollout = RolloutConfig(strategy=strategy, percentage=percentage, interval_minutes=interval)
    assert predefined_lambda_config_name(rollout) == name


def test_every_predefined_name_exists_in_cdk():
    from aws_cdk import aws_codedeploy as codedeploy

    for strategy, pairs in {
        "canary": [(10, 5), (10, 10), (10, 15), (10, 30)],
        "linear": [(10, 1), (10, 2), (10, 3), (10, 10)],
    }.items():
        for percentage, interval in pairs:
            name = predefined_lambda_config_name(
                RolloutConfig(strategy=strategy, percentage=percentage, interval_minutes=interval)
            )
            assert hasattr(codedeploy.LambdaDeploymentConfig, str(name)), name


def test_sagemaker_linear_policy():
    from infra.rollout import sagemaker_deployment_config

    policy = sagemaker_deployment_config(
        RolloutConfig(strategy="linear", percentage=25, interval_minutes=4), ["a", "b"]
    )
    routing = policy.blue_green_update_policy.traffic_routing_configuration
    assert routing.type == "LINEAR" and routing.linear_step_size.value == 25 and routing.wait_interval_in_seconds == 240
    assert [alarm.alarm_name for alarm in policy.auto_rollback_configuration.alarms] == ["a", "b"]
    assert policy.blue_green_update_policy.maximum_execution_timeout_in_seconds <= 14400
