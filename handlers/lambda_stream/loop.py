"""The streaming runtime loop: initialise once, then take events from the Runtime API one at a time.

Started in place of the managed runtime's own loop: the deployed function sets
``AWS_LAMBDA_EXEC_WRAPPER`` to ``handlers/lambda_stream/exec_wrapper.sh``, which ``exec``s
``python -m handlers.lambda_stream`` with the runtime's interpreter. Initialisation is the buffered
path's (:mod:`handlers.lambda_entry` loads, verifies and warms every bundle); a failure there is
reported to ``/runtime/init/error`` and the process exits, as Lambda expects. Each HTTP event is then
answered by :class:`~handlers.lambda_stream.bridge.StreamedInvocation`; an event that is not an HTTP
request is refused as the invocation's error.

With SnapStart (``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``) the loaded and warmed process is handed
to ``/runtime/restore/next`` to be snapshotted; after every restore the process-wide random generators
are re-seeded from the OS, so restored copies of one snapshot never sample the same sequence.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sys
import traceback
from collections.abc import Callable
from typing import Any

from handlers.lambda_stream.bridge import StreamedInvocation
from handlers.lambda_stream.runtime_api import Invocation, LambdaContext, RuntimeApiClient, error_document

__all__ = ["main", "run"]

logger = logging.getLogger("maaskit.lambda.stream")

AdapterFactory = Callable[[], Any]
"""Builds the Mangum adapter whose ``app``, ``config`` and ``infer`` the loop uses (the init phase)."""


def _lambda_adapter() -> Any:
    from handlers.lambda_entry import handler  # loads, verifies and warms the bundles

    return handler


def _context(invocation: Invocation) -> LambdaContext:
    return LambdaContext(
        invocation,
        function_name=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
        memory_mb=os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", ""),
        version=os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    )


async def _serve(client: RuntimeApiClient, adapter: Any, invocation: Invocation) -> None:
    try:
        handler = adapter.infer(invocation.event, _context(invocation))
        scope, body = handler.scope, handler.body
    except Exception as exc:  # not an event of a streaming HTTP integration
        message = f"not an HTTP event of a Function URL, API Gateway or ALB ({type(exc).__name__}: {exc})"
        await client.invocation_error(invocation.request_id, error_document("Runtime.UnsupportedEvent", message))
        return
    await StreamedInvocation(client, invocation, scope, body).run(adapter.app)


SNAPSTART = "snap-start"


def reseed() -> None:
    """Fresh seeds for the process-wide random generators (Python's and numpy's) from the OS."""
    import numpy as np

    random.seed(os.urandom(32))
    np.random.seed(int.from_bytes(os.urandom(4), "little"))


async def _snapshot(client: RuntimeApiClient) -> bool:
    """SnapStart: be snapshotted, then re-seed; False (reported) when the after-restore step failed."""
    await client.restore_next()
    try:
        reseed()
    except Exception as exc:  # a restored process that cannot re-seed must not serve
        await client.restore_error(error_document("Runtime.AfterRestoreError", f"{type(exc).__name__}: {exc}"))
        return False
    return True


async def run(
    client: RuntimeApiClient, factory: AdapterFactory = _lambda_adapter, invocations: int | None = None
) -> int:
    """Initialise with ``factory``, then answer ``invocations`` events (forever when None). Returns the exit code."""
    try:
        adapter = factory()
    except BaseException as exc:
        stack = [line.rstrip() for line in traceback.format_tb(exc.__traceback__)][-10:]
        await client.init_error(error_document(f"Runtime.{type(exc).__name__}", str(exc) or type(exc).__name__, stack))
        return 1
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == SNAPSTART and not await _snapshot(client):
        return 1
    served = 0
    while invocations is None or served < invocations:
        invocation = await client.next_invocation()
        await _serve(client, adapter, invocation)
        served += 1
    return 0


def main() -> int:
    """Entry point: the Runtime API address from ``AWS_LAMBDA_RUNTIME_API``."""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(name)s %(message)s")
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        print("AWS_LAMBDA_RUNTIME_API is not set: this loop runs inside Lambda (or under a local Runtime API)")
        return 2
    return asyncio.run(run(RuntimeApiClient(address)))
