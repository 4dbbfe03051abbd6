"""Is a CodeDeploy deployment moving the ``live`` alias right now?"""

from __future__ import annotations

from typing import Any

from infra.ops.aws import aws_errors, error_code

__all__ = ["RUNNING_STATUSES", "running_deployment"]

#: Deployment states in which CodeDeploy may still move the alias.
RUNNING_STATUSES = ["Created", "Queued", "InProgress", "Baking", "Ready"]
_ABSENT = {"ApplicationDoesNotExistException", "DeploymentGroupDoesNotExistException"}


def running_deployment(codedeploy: Any, application: str, group: str) -> tuple[str | None, str | None]:
    """``(description of the running deployment or None, note for the status page or None)``.

    A missing application or deployment group means no automated rollout is configured
    for this alias: nothing is running, and the note says so.
    """
    from botocore.exceptions import ClientError

    with aws_errors(f"listing CodeDeploy deployments of {application}/{group}"):
        try:
            ids = codedeploy.list_deployments(
                applicationName=application,
                deploymentGroupName=group,
                includeOnlyStatuses=RUNNING_STATUSES,
            )["deployments"]
        except ClientError as exc:
            if error_code(exc) in _ABSENT:
                return None, f"no CodeDeploy group {application}/{group}: automated rollouts are not set up"
            raise
        if not ids:
            return None, None
        info = codedeploy.get_deployment(deploymentId=ids[0])["deploymentInfo"]
    status = info.get("status", "running")
    started = info.get("createTime")
    when = f", started {started:%Y-%m-%d %H:%M:%S %Z}".rstrip() if hasattr(started, "strftime") else ""
    return f"CodeDeploy deployment {ids[0]} is {status}{when}", None
