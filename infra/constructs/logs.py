"""CloudWatch Logs helpers shared by the constructs."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

__all__ = ["function_log_group", "retention"]

_NAMES = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS",
}  # fmt: skip


def retention(days: int) -> logs.RetentionDays:
    """The CloudWatch Logs retention for ``days`` (one of the values the config schema accepts)."""
    retention_days: logs.RetentionDays = getattr(logs.RetentionDays, _NAMES[days])
    return retention_days


def function_log_group(
    scope: Construct, construct_id: str, function_name: str, days: int, *, keep: bool = True
) -> logs.LogGroup:
    """The log group Lambda writes ``function_name``'s logs to (``/aws/lambda/<name>``), created by the stack so
    its retention (and the stage's logs key, when set) apply; retained with the stack unless ``keep`` is False."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=f"/aws/lambda/{function_name}",
        retention=retention(days),
        removal_policy=RemovalPolicy.RETAIN if keep else RemovalPolicy.DESTROY,
    )
