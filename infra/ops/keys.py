"""Consumer keys of an ``auth: keys`` stage: create, list, revoke, rotate (API Gateway API keys).

A consumer's key is an API Gateway API key named ``maaskit-<stage>-<consumer>``, tagged with the
stage, consumer and plan, and bound to the plan's usage plan ``maaskit-<stage>-<plan>`` (made by the
CDK app from ``api.consumers.plans``). The key's value is returned once, by :func:`create_key` and
:func:`rotate_key`, and never stored: listing shows ids only. Revoking disables the key (kept for the
audit trail); the authorizer stops accepting it within its cache TTL (``key_cache_ttl_s``, 60 s).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from infra.authorizer.names import TAG_CONSUMER, TAG_DEFAULT_PLAN, TAG_PLAN, TAG_STAGE, key_name, key_prefix
from infra.consumers_config import plan_resource_name
from infra.ops.aws import aws_errors
from infra.ops.errors import NotFoundError, RefusedError

__all__ = ["CONSUMER_NAME", "ConsumerKey", "NewKey", "create_key", "list_keys", "revoke_key", "rotate_key"]

#: Consumer names: part of the key's name and of metric dimensions.
CONSUMER_NAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"


@dataclass(frozen=True)
class ConsumerKey:
    """A key as listed: never its value."""

    key_id: str
    consumer: str
    plan: str
    enabled: bool
    created: str


@dataclass(frozen=True)
class NewKey:
    """A key just made: ``value`` is the secret, shown once."""

    key: ConsumerKey
    value: str


def _check_consumer(consumer: str) -> None:
    if not re.fullmatch(CONSUMER_NAME, consumer):
        raise RefusedError(
            f"consumer {consumer!r} must be 1-64 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def _plans(client: Any, stage: str) -> dict[str, tuple[str, bool]]:
    """Plan name -> (usage plan id, whether it is the default plan), for the stage's plans."""
    prefix = key_prefix(stage)
    found: dict[str, tuple[str, bool]] = {}
    with aws_errors("listing usage plans"):
        for page in client.get_paginator("get_usage_plans").paginate():
            for item in page.get("items", []):
                if str(item.get("name", "")).startswith(prefix):
                    default = (item.get("tags") or {}).get(TAG_DEFAULT_PLAN) == "true"
                    found[str(item["name"]).removeprefix(prefix)] = (str(item["id"]), default)
    return found


def _plan_id(client: Any, stage: str, plan: str | None) -> tuple[str, str]:
    """(plan name, usage plan id); ``plan`` None: the plan tagged as the deploy file's default_plan."""
    plans = _plans(client, stage)
    if plan is None:
        defaults = [name for name, (_, default) in plans.items() if default]
        if len(defaults) == 1 or len(plans) == 1:
            plan = defaults[0] if defaults else next(iter(plans))
        else:
            known = ", ".join(sorted(plans)) or "none: is the stage deployed with auth: keys?"
            raise RefusedError(f"stage {stage} has no default plan to use (its plans: {known}); pass --plan")
    if plan not in plans:
        known = ", ".join(sorted(plans)) or "none: is the stage deployed with auth: keys?"
        raise NotFoundError(
            f"usage plan {plan_resource_name(stage, plan)} not found (the stage's plans: {known}); "
            "add it under api.consumers.plans and deploy, or pass --plan with one of those"
        )
    return plan, plans[plan][0]


def _record(item: dict[str, Any], stage: str) -> ConsumerKey:
    tags = item.get("tags") or {}
    created = item.get("createdDate")
    return ConsumerKey(
        key_id=str(item["id"]),
        consumer=str(tags.get(TAG_CONSUMER) or str(item.get("name", "")).removeprefix(key_prefix(stage))),
        plan=str(tags.get(TAG_PLAN, "")),
        enabled=bool(item.get("enabled")),
        created=created.isoformat(timespec="seconds") if created is not None and hasattr(created, "isoformat") else "",
    )


def list_keys(session: Any, stage: str, consumer: str | None = None) -> list[ConsumerKey]:
    """The stage's consumer keys (optionally one consumer's), oldest first; values are never read."""
    client = session.client("apigateway")
    keys: list[ConsumerKey] = []
    with aws_errors("listing API keys"):
        for page in client.get_paginator("get_api_keys").paginate(nameQuery=key_prefix(stage), includeValues=False):
            for item in page.get("items", []):
                tags = item.get("tags") or {}
                if not str(item.get("name", "")).startswith(key_prefix(stage)) or tags.get(TAG_STAGE, stage) != stage:
                    continue
                record = _record(item, stage)
                if consumer is None or record.consumer == consumer:
                    keys.append(record)
    return sorted(keys, key=lambda k: (k.consumer, k.created, k.key_id))


def _new_key(session: Any, stage: str, consumer: str, plan: str | None) -> NewKey:
    client = session.client("apigateway")
    plan, plan_id = _plan_id(client, stage, plan)
    with aws_errors(f"creating a key for {consumer}"):
        item = client.create_api_key(
            name=key_name(stage, consumer),
            description=f"maaskit {stage} consumer {consumer} (plan {plan})",
            enabled=True,
            generateDistinctId=True,
            tags={TAG_STAGE: stage, TAG_CONSUMER: consumer, TAG_PLAN: plan},
        )
        try:
            client.create_usage_plan_key(usagePlanId=plan_id, keyId=item["id"], keyType="API_KEY")
        except Exception:
            client.delete_api_key(apiKey=item["id"])  # no key outside a plan is left behind
            raise
    return NewKey(_record(item, stage), str(item["value"]))


def create_key(session: Any, stage: str, consumer: str, plan: str | None = None) -> NewKey:
    """A new key for ``consumer`` on ``plan`` (None: the stage's default plan); refused while the consumer
    has an enabled key (use rotate)."""
    _check_consumer(consumer)
    if any(key.enabled for key in list_keys(session, stage, consumer)):
        raise RefusedError(
            f"consumer {consumer} already has an enabled key on stage {stage}; "
            f"use `maaskit keys rotate --stage {stage} --consumer {consumer}` for a new one"
        )
    return _new_key(session, stage, consumer, plan)


def _disable(session: Any, key_ids: list[str]) -> None:
    client = session.client("apigateway")
    for key_id in key_ids:
        with aws_errors(f"disabling key {key_id}"):
            client.update_api_key(
                apiKey=key_id, patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}]
            )


def revoke_key(session: Any, stage: str, consumer: str) -> list[ConsumerKey]:
    """Disable every enabled key of ``consumer``; returns them (refused when there is none)."""
    _check_consumer(consumer)
    enabled = [key for key in list_keys(session, stage, consumer) if key.enabled]
    if not enabled:
        raise NotFoundError(
            f"consumer {consumer} has no enabled key on stage {stage}; `maaskit keys list` shows the keys"
        )
    _disable(session, [key.key_id for key in enabled])
    return enabled


def rotate_key(session: Any, stage: str, consumer: str, plan: str | None = None) -> tuple[NewKey, list[ConsumerKey]]:
    """A new key for ``consumer`` (same plan unless ``plan``), then the old ones disabled."""
    _check_consumer(consumer)
    enabled = [key for key in list_keys(session, stage, consumer) if key.enabled]
    if not enabled and plan is None:
        raise NotFoundError(
            f"consumer {consumer} has no enabled key on stage {stage} to rotate; "
            f"use `maaskit keys create --stage {stage} --consumer {consumer}`"
        )
    new = _new_key(session, stage, consumer, plan or enabled[-1].plan)
    _disable(session, [key.key_id for key in enabled])
    return new, enabled
