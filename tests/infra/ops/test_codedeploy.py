"""The CodeDeploy running check with recorded response shapes (botocore Stubber).

moto answers ``list_deployments`` for an unknown application with an empty list, where AWS
raises ApplicationDoesNotExistException; these shapes are AWS's, so the check is tested on them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.stub import Stubber

from infra.ops.codedeploy import RUNNING_STATUSES, running_deployment

PARAMS = {
    "applicationName": "maaskit-prod-iris",
    "deploymentGroupName": "live",
    "includeOnlyStatuses": RUNNING_STATUSES,
}


def _client() -> Any:
    return boto3.client("codedeploy", region_name="eu-west-1")


def test_in_progress_deployment_is_described() -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_response("list_deployments", {"deployments": ["d-7Q2ABCDEF"]}, PARAMS)
        stub.add_response(
            "get_deployment",
            {
                "deploymentInfo": {
                    "deploymentId": "d-7Q2ABCDEF",
                    "status": "InProgress",
                    "createTime": datetime(2026, 5, 1, 12, 0, 5, tzinfo=UTC),
                    "computePlatform": "Lambda",
                }
            },
            {"deploymentId": "d-7Q2ABCDEF"},
        )
        running, note = running_deployment(client, "maaskit-prod-iris", "live")
    assert running == "CodeDeploy deployment d-7Q2ABCDEF is InProgress, started 2026-05-01 12:00:05 UTC"
    assert note is None


def test_no_deployment_running() -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_response("list_deployments", {"deployments": []}, PARAMS)
        assert running_deployment(client, "maaskit-prod-iris", "live") == (None, None)


def test_missing_application_means_no_automated_rollout() -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error(
            "list_deployments", "ApplicationDoesNotExistException", "No application found for name: maaskit-prod-iris"
        )
        running, note = running_deployment(client, "maaskit-prod-iris", "live")
    assert running is None
    assert note == "no CodeDeploy group maaskit-prod-iris/live: automated rollouts are not set up"
