"""Decode and encode large bodies away from the event loop, so a health check never waits behind them.

Turning a 5 MB JSON body into tensors (or a 160k-row answer into JSON) holds the event loop for about
a second; four at once made ``/ping`` wait that long. At ``MAASKIT_OFFLOAD_BYTES`` (default 256 KiB)
and above, routes run that work through :func:`off_loop` in Starlette's thread pool; smaller bodies
stay inline, where a thread hop would cost more than the work.

A thread still shares the GIL, and orjson or numpy hold it for a whole parse (100-500 ms for 5 MB on a
busy machine). So the JSON codecs, whose server the platform health-checks on ``/ping``, hand
large bodies from that thread to a worker *process* (:func:`in_process`, ``MAASKIT_DECODE_PROCESSES``, 2
in the container and under ``maaskit serve``, 0 on Lambda): the thread waits without the GIL and the loop
only unpickles arrays and bytes. A codec joins by calling :func:`in_process` with a module-level function
of the body that returns arrays: SageMaker ``/invocations``, maaskit ``/predict`` and TF Serving ``:predict``
do (``python -m bench.large_bodies`` shows ``/ping`` beside each); the others decode in a thread.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

__all__ = ["in_process", "off_loop", "shutdown_processes", "warm_processes"]

T = TypeVar("T")
_DEFAULT_THRESHOLD = 262144


def _threshold(request: Request) -> int:
    settings = getattr(request.app.state, "settings", None) if "app" in request.scope else None
    return int(getattr(settings, "offload_bytes", _DEFAULT_THRESHOLD))


async def off_loop(request: Request, size: int, work: Callable[[], T]) -> T:
    """``work()``: in a worker thread when ``size`` (the body's bytes) reaches the threshold, else inline."""
    threshold = _threshold(request)
    if threshold and size >= threshold:
        return await run_in_threadpool(work)
    return work()


_pools: dict[int, ProcessPoolExecutor] = {}
_NICENESS = 5


def _pool(processes: int) -> ProcessPoolExecutor:
    pool = _pools.get(processes)
    if pool is None:  # spawn: never fork a process that holds onnxruntime's threads
        workers = max(1, min(processes, os.cpu_count() or 1))
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(workers, context, initializer=_start_worker, initargs=(os.getpid(),))
        _pools[processes] = pool
    return pool


def in_process(processes: int, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` (module-level, picklable) in a worker process, waited for without the GIL.

    Call from a worker thread (inside :func:`off_loop`), never on the event loop; ``processes`` 0 runs it here.
    """
    if processes <= 0:
        return function(*args)
    return _pool(processes).submit(function, *args).result()


def warm_processes(processes: int) -> None:
    """Start the worker processes now (they import the codecs once), not on the first large request."""
    if processes > 0:
        pool = _pool(processes)
        for future in [pool.submit(_ready) for _ in range(processes)]:
            future.result(timeout=120)


def shutdown_processes() -> None:
    """Stop the worker processes and wait for them (server shutdown; a decode under way ends first).

    Waiting matters: uvicorn re-raises SIGTERM once its shutdown is done, which ends this process before
    the pool's own thread could stop the workers (they would outlive the server).
    """
    for pool in _pools.values():
        pool.shutdown(wait=True, cancel_futures=True)
    _pools.clear()


def _start_worker(server_pid: int) -> None:
    """Decoding yields the CPU to the server process, whose event loop answers health checks; and a worker
    whose server is gone (killed, no shutdown) exits within a second instead of lingering."""
    os.nice(_NICENESS)
    threading.Thread(target=_exit_with, args=(server_pid,), name="maaskit-server-watch", daemon=True).start()


def _exit_with(server_pid: int, interval_s: float = 1.0) -> None:
    while os.getppid() == server_pid:
        time.sleep(interval_s)
    os._exit(0)


def _ready() -> bool:
    import handlers.codecs  # noqa: F401 (the import is the warm-up)

    return True
