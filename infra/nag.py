"""cdk-nag (3.x, through CDK's ``Validations`` API): turn the AwsSolutions pack on, acknowledge by design."""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from constructs import IConstruct

__all__ = ["acknowledge", "enable_nag"]


def enable_nag(app: App) -> None:
    """Run the AwsSolutions rule pack on every stack of ``app`` at synthesis."""
    from cdk_nag import AwsSolutionsChecks

    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge ``rule`` (e.g. ``AwsSolutions-IAM5[Resource::*]``) on ``scope`` and its children."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))
