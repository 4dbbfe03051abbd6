"""Customer-managed KMS encryption of every log group of the stage (``logs.kms`` in the deploy file).

``kms: true`` makes a key (``alias/maaskit-<stage>-logs``, rotation on) whose policy lets CloudWatch Logs
in this region use it only for this stage's log groups: the ``kms:EncryptionContext:aws:logs:arn``
condition names them (``/aws/lambda/maaskit-<stage>-*``, ``/aws/sagemaker/Endpoints/maaskit-<stage>-*``,
the API's execution logs and the groups CloudFormation names after the stack, ``maaskit-<stage>-*``).
``kms: <key ARN>`` uses your key, whose policy you keep (docs/consumers.md shows the statement).
An aspect then sets ``KmsKeyId`` on every ``AWS::Logs::LogGroup`` of the stack, whichever construct made it.
Attributes: ``key`` (None with your own key), ``key_arn``.
"""

from __future__ import annotations

import jsii
from aws_cdk import Aspects, IAspect, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from infra.names import logs_key_alias, stage_name

__all__ = ["LOGS_KEY_ACTIONS", "LogEncryption", "log_group_arns"]

#: What CloudWatch Logs needs on the key (AWS's documented key policy for log group encryption).
LOGS_KEY_ACTIONS = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]


def log_group_arns(stack: Stack, stage: str) -> list[str]:
    """ARN patterns of the stage's log groups (the encryption context the key policy allows)."""
    prefix = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:"
    name = stage_name(stage)
    return [
        f"{prefix}/aws/lambda/{name}-*",
        f"{prefix}/aws/sagemaker/Endpoints/{name}-*",
        f"{prefix}API-Gateway-Execution-Logs_*/{stage}",
        f"{prefix}{name}-*",
    ]


@jsii.implements(IAspect)
class _EncryptLogGroups:
    """Set ``KmsKeyId`` on every log group that has none."""

    def __init__(self, key_arn: str) -> None:
        self.key_arn = key_arn

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, logs.CfnLogGroup) and node.kms_key_id is None:
            node.kms_key_id = self.key_arn


class LogEncryption(Construct):
    """The logs key (or yours) and the aspect that puts it on the stack's log groups."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: str, key: bool | str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key: kms.Key | None = None
        if isinstance(key, str):
            self.key_arn = key
        else:
            self.key = kms.Key(
                self,
                "Key",
                alias=logs_key_alias(stage),
                description=f"maaskit {stage}: CloudWatch Logs encryption of the stage's log groups",
                enable_key_rotation=True,
                removal_policy=RemovalPolicy.RETAIN,
            )
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="CloudWatchLogsOfThisStage",
                    principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                    actions=LOGS_KEY_ACTIONS,
                    resources=["*"],
                    conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_group_arns(stack, stage)}},
                )
            )
            self.key_arn = self.key.key_arn
        Aspects.of(stack).add(_EncryptLogGroups(self.key_arn))
