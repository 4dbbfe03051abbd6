"""REQUEST authorizer: ``Authorization: Bearer <key>`` or ``x-api-key: <key>`` -> the usage-plan key.

API Gateway runs it with ``apiKeySource: AUTHORIZER``: the ``usageIdentifierKey`` it returns is the
key API Gateway meters, throttles and holds to its plan's quota. The key is looked up by value among
the stage's API keys (``apigateway:GetApiKeys``), cached for ``MAASKIT_KEY_CACHE_TTL_S`` seconds.

Failure modes, all closed:

- no key, or a key this stage does not know: ``Unauthorized`` (API Gateway answers 401);
- a disabled (revoked) key: an explicit Deny (403);
- anything unexpected (AWS unreachable, a bug): the exception propagates, and API Gateway answers
  500 ``AUTHORIZER_FAILURE``: a failing authorizer can never let a request in.

The context handed to the integration names the consumer and the key id, never the key.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

try:
    from infra.authorizer.names import CACHE_TTL_ENV, KEY_PREFIX_ENV, TAG_CONSUMER, TAG_PLAN
except ImportError:  # in the Lambda asset the directory itself is the code root
    from names import CACHE_TTL_ENV, KEY_PREFIX_ENV, TAG_CONSUMER, TAG_PLAN  # type: ignore[no-redef]

__all__ = ["KeyDirectory", "KeyRecord", "Unauthorized", "authorize", "bearer_key", "handler"]


class Unauthorized(Exception):  # noqa: N818 - API Gateway matches the message "Unauthorized" exactly
    """Raised with the message ``Unauthorized``: API Gateway answers 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


@dataclass(frozen=True)
class KeyRecord:
    """What the authorizer knows about one key: its id, consumer, plan and whether it is enabled."""

    key_id: str
    consumer: str
    plan: str
    enabled: bool


def _lower(headers: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers or {}).items() if v is not None}


def bearer_key(event: Mapping[str, Any]) -> str | None:
    """The key a request carries: ``Authorization: Bearer <key>`` first, then ``x-api-key``."""
    headers = _lower(event.get("headers"))
    authorization = headers.get("authorization", "").strip()
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    key = headers.get("x-api-key", "").strip()
    return key or None


class KeyDirectory:
    """The stage's keys by value, listed with ``GetApiKeys`` and kept ``ttl_s`` seconds."""

    def __init__(
        self, client: Any, prefix: str, ttl_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.clock = clock
        self._keys: dict[str, KeyRecord] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def lookup(self, value: str) -> KeyRecord | None:
        """The record of key ``value`` (None when unknown); AWS errors propagate (fail closed)."""
        with self._lock:
            now = self.clock()
            if self._loaded_at is None or now - self._loaded_at >= self.ttl_s:
                self._keys = self._load()
                self._loaded_at = now
            return self._keys.get(value)

    def _load(self) -> dict[str, KeyRecord]:
        keys: dict[str, KeyRecord] = {}
        paginator = self.client.get_paginator("get_api_keys")
        for page in paginator.paginate(nameQuery=self.prefix, includeValues=True):
            for item in page.get("items", []):
                name = str(item.get("name", ""))
                if not name.startswith(self.prefix) or not item.get("value"):
                    continue  # nameQuery is a prefix match in AWS, but keep the rule here too
                tags = item.get("tags") or {}
                keys[str(item["value"])] = KeyRecord(
                    key_id=str(item["id"]),
                    consumer=str(tags.get(TAG_CONSUMER) or name.removeprefix(self.prefix)),
                    plan=str(tags.get(TAG_PLAN, "")),
                    enabled=bool(item.get("enabled")),
                )
        return keys


def _policy(principal: str, effect: str, resource: str) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }


def authorize(event: Mapping[str, Any], directory: KeyDirectory) -> dict[str, Any]:
    """The authorizer's answer for ``event``; raises :class:`Unauthorized` for a missing or unknown key."""
    value = bearer_key(event)
    if value is None:
        raise Unauthorized()
    record = directory.lookup(value)
    if record is None:
        raise Unauthorized()
    method_arn = str(event["methodArn"])
    if not record.enabled:
        return _policy(record.key_id, "Deny", method_arn)
    answer = _policy(record.key_id, "Allow", method_arn)
    answer["usageIdentifierKey"] = value
    answer["context"] = {"consumer": record.consumer, "apiKeyId": record.key_id, "plan": record.plan}
    return answer


_DIRECTORY: KeyDirectory | None = None


def _directory() -> KeyDirectory:
    global _DIRECTORY  # noqa: PLW0603 - one key cache per execution environment
    if _DIRECTORY is None:
        import boto3

        _DIRECTORY = KeyDirectory(
            boto3.client("apigateway"),
            prefix=os.environ[KEY_PREFIX_ENV],
            ttl_s=float(os.environ.get(CACHE_TTL_ENV, "60")),
        )
    return _DIRECTORY


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point (``handler.handler``)."""
    return authorize(event, _directory())
