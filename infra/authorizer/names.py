"""How consumer keys are named and tagged; shared by the authorizer and ``maaskit keys``."""

from __future__ import annotations

__all__ = [
    "CACHE_TTL_ENV",
    "KEY_PREFIX_ENV",
    "STAGE_ENV",
    "TAG_CONSUMER",
    "TAG_DEFAULT_PLAN",
    "TAG_PLAN",
    "TAG_STAGE",
    "key_name",
    "key_prefix",
]

TAG_STAGE = "maaskit:stage"
TAG_CONSUMER = "maaskit:consumer"
TAG_PLAN = "maaskit:plan"
#: On the usage plan that ``maaskit keys create`` uses without --plan (the deploy file's default_plan).
TAG_DEFAULT_PLAN = "maaskit:default-plan"
#: Environment of the authorizer function.
STAGE_ENV = "MAASKIT_STAGE"
KEY_PREFIX_ENV = "MAASKIT_KEY_PREFIX"
CACHE_TTL_ENV = "MAASKIT_KEY_CACHE_TTL_S"


def key_prefix(stage: str) -> str:
    """Every consumer key of a stage is named with this prefix."""
    return f"maaskit-{stage}-"


def key_name(stage: str, consumer: str) -> str:
    """The API key's name: ``maaskit-<stage>-<consumer>`` (several keys may share it during a rotation)."""
    return f"{key_prefix(stage)}{consumer}"
