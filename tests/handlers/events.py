"""Load the captured-shape Lambda events stored under tests/events/."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[1] / "events"


@cache
def _read(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of ``tests/events/<name>.json``."""
    return copy.deepcopy(_read(name))


class LambdaContext:
    """The attributes of the Lambda context object that the runtime reads."""

    function_name = "maaskit-test-iris"
    function_version = "7"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:maaskit-test-iris:live"
    memory_limit_in_mb = 1024
    aws_request_id = "3e1f5a4e-5c1d-4b8e-9d2c-0a1b2c3d4e5f"
    log_group_name = "/aws/lambda/maaskit-test-iris"
    log_stream_name = "2026/11/28/[7]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000
