"""SageMaker container entry: ``python -m handlers.sagemaker_entry [serve]``.

Loads the bundle(s) from the model directory (the extracted ``model.tar.gz``: a bundle root, or a
folder of bundles), picks onnxruntime-gpu's CUDA provider when it is there (CPU with a warning
otherwise), serves every model version through a request batcher (within the inference budget
when ``MAASKIT_INFERENCE_TIMEOUT_MS`` is set: :mod:`handlers.strategies`), and serves the one maaskit app
on ``0.0.0.0:8080`` under uvicorn (uvloop and httptools when installed). SageMaker starts the image
with the argument ``serve``; it is accepted and ignored.

Environment (argument > environment > default, as everywhere in maaskit). Every variable is read by
:class:`handlers.settings.Settings` (one parser, one type each; a bad value stops the container with a
message naming the variable); this entry only sets its own defaults:

==============================  ==========================================================
``SM_MODEL_DIR``                model directory (default ``/opt/ml/model``)
``MAASKIT_BUNDLES``             explicit bundle locations; wins over ``SM_MODEL_DIR``
``SAGEMAKER_BIND_TO_PORT``      port (else ``MAASKIT_PORT``; default 8080)
``MAASKIT_HOST``                bind address (default ``0.0.0.0``)
``MAASKIT_WORKERS``             server processes (alias ``SAGEMAKER_MODEL_SERVER_WORKERS``);
                                default one per visible GPU, 1 without GPU
``MAASKIT_KEEP_ALIVE_S``        HTTP keep-alive seconds, e.g. 2.5 (default 75, above SageMaker's 60)
``MAASKIT_REQUEST_TIMEOUT_S``   request head to answer (default 60, SageMaker's invocation timeout)
``MAASKIT_MAX_RESPONSE_BYTES``  largest answer (default 6 MB, SageMaker's real-time limit; 413 above)
``MAASKIT_DECODE_PROCESSES``    processes decoding large /invocations bodies (default 2; 0: threads)
(header, body and connection limits: ``MAASKIT_HEADER_TIMEOUT_S``, ``MAASKIT_BODY_TIMEOUT_S``,
``MAASKIT_BODY_MIN_RATE``, ``MAASKIT_MAX_HEADER_BYTES``, ``MAASKIT_MAX_HEADERS``,
``MAASKIT_MAX_CONNECTIONS``: see handlers/settings.py)
``MAASKIT_BATCHING``            ``0`` turns request batching off (default on)
``MAASKIT_BATCH_MAX_SIZE``      rows per batched run (default 32)
``MAASKIT_BATCH_MAX_WAIT_MS``   wait for a batch to fill after its first request (default 2)
``MAASKIT_PROVIDERS``           explicit onnxruntime providers (default CUDA when offered, CPU)
==============================  ==========================================================
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bundle import BundleError
from bundle.limits import SAGEMAKER_INVOCATION_TIMEOUT_S, SAGEMAKER_PAYLOAD_BYTES
from handlers.settings import ENV, Settings, SettingsError, target_defaults
from handlers.strategies import choose_strategy
from handlers.tunnel import InvocationsTunnel

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["build_app", "container_settings", "default_providers", "main", "worker_app"]

logger = logging.getLogger("maaskit.sagemaker")

DEFAULT_MODEL_DIR = "/opt/ml/model"
KEEP_ALIVE_S = 75.0  # above the 60 s SageMaker's front end keeps idle connections
DECODE_PROCESSES = 2  # large /invocations bodies decode outside the GIL that /ping needs
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def visible_gpus(env: Mapping[str, str]) -> list[str]:
    """CUDA device ids this process may use: ``CUDA_VISIBLE_DEVICES`` when set, else the driver's list."""
    explicit = env.get("CUDA_VISIBLE_DEVICES")
    if explicit is not None:
        return [part.strip() for part in explicit.split(",") if part.strip() and part.strip() != "-1"]
    try:
        return [str(index) for index in range(len(os.listdir("/proc/driver/nvidia/gpus")))]
    except OSError:
        return []


def assign_worker_gpu(env: dict[str, str] | os._Environ[str]) -> str | None:
    """Give this worker process one GPU of its own (round robin across the server's workers).

    Workers are numbered with a counter file shared by the processes of one server (same parent);
    the chosen id goes into ``CUDA_VISIBLE_DEVICES`` before onnxruntime initialises CUDA.
    """
    gpus = visible_gpus(env)
    if len(gpus) <= 1:
        return gpus[0] if gpus else None
    counter = os.path.join(tempfile.gettempdir(), f"maaskit-workers-{os.getppid()}.count")
    with open(counter, "a+", encoding="ascii") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        text = handle.read().strip()
        index = int(text) if text.isdigit() else 0
        handle.seek(0)
        handle.truncate()
        handle.write(str(index + 1))
    device = gpus[index % len(gpus)]
    env["CUDA_VISIBLE_DEVICES"] = device
    logger.info("worker %d uses GPU %s", index, device)
    return device


def bundle_locations(env: Mapping[str, str]) -> tuple[str, ...]:
    """``MAASKIT_BUNDLES`` when set, else ``SM_MODEL_DIR``, else ``/opt/ml/model``."""
    explicit = env.get(ENV["bundles"], "").strip()
    if explicit:
        return tuple(part for part in explicit.split(os.pathsep) if part)
    return (env.get("SM_MODEL_DIR", "").strip() or DEFAULT_MODEL_DIR,)


def default_providers(available: Sequence[str] | None = None) -> tuple[str, ...]:
    """CUDA then CPU when this onnxruntime offers CUDA; CPU alone otherwise, with a warning."""
    if available is None:
        import onnxruntime

        available = onnxruntime.get_available_providers()
    if CUDA in available:
        return (CUDA, CPU)
    logger.warning(
        "CUDAExecutionProvider is not available in this onnxruntime build (%s); serving on CPU. "
        "Install onnxruntime-gpu and run on a GPU instance for CUDA.",
        ", ".join(available),
    )
    return (CPU,)


def container_settings(env: Mapping[str, str], gpu_count: int | None = None, **overrides: object) -> Settings:
    """Settings from the container's environment with SageMaker's defaults (see the module docstring).

    Raises SettingsError naming the variable when one holds an unusable value.
    """
    gpus = len(visible_gpus(env)) if gpu_count is None else gpu_count
    defaults = target_defaults(
        env,
        host="0.0.0.0",  # a container listens on all its interfaces
        port=8080,
        workers=max(gpus, 1),
        keep_alive_s=KEEP_ALIVE_S,
        batching=True,
        request_timeout_s=float(SAGEMAKER_INVOCATION_TIMEOUT_S),
        max_response_bytes=SAGEMAKER_PAYLOAD_BYTES,
        decode_processes=DECODE_PROCESSES,
    )
    return Settings.load(environ=env, **{**defaults, **overrides})


def build_app(env: Mapping[str, str] | None = None, settings: Settings | None = None) -> Starlette:
    """Load, verify and warm every bundle, serve them batched (unless turned off) within the budget, build the app.

    ``settings`` default: :func:`container_settings` of ``env`` (default ``os.environ``). Raises BundleError
    when a bundle is missing or cannot be trusted, SettingsError on bad settings.
    """
    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.offload import shutdown_processes, warm_processes

    source = dict(os.environ if env is None else env)
    settings = settings or container_settings(source)
    overrides: dict[str, Any] = {"bundles": bundle_locations(source)}
    if not source.get(ENV["providers"], "").strip():
        overrides["providers"] = default_providers()
    settings = replace(settings, **overrides)
    strategy = choose_strategy(settings)  # the inference budget holds inside the batcher too
    repository = ModelRepository.load(settings, strategy=strategy)
    for runtime in repository.runtimes():
        logger.info("serving %s on %s, inference %s", runtime.key, ",".join(runtime.providers), strategy.describe())

    warm_processes(settings.decode_processes)

    async def shut_down() -> None:
        await repository.close()
        shutdown_processes()
        logger.info("shut down: inference stopped (%s)", strategy.describe())

    app = create_app(repository, settings, on_shutdown=[shut_down])
    app.add_middleware(InvocationsTunnel)  # the API's maaskit routes arrive as /invocations (handlers.tunnel)
    return app


def worker_app() -> Starlette:
    """App factory for each uvicorn worker process: claim a GPU of its own, then build the app."""
    assign_worker_gpu(os.environ)
    return build_app()


def _uvicorn_options(settings: Settings) -> dict[str, object]:
    import importlib.util

    from handlers.connections import uvicorn_options

    has = importlib.util.find_spec
    return {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop" if has("uvloop") else "asyncio",
        "access_log": False,  # maaskit writes its own structured line per request
        "log_level": "warning",
        "server_header": False,
        **uvicorn_options(settings),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the container server; returns a process exit code (2 for bad arguments or settings)."""
    from handlers.observability import configure_logging

    args = list(sys.argv[1:] if argv is None else argv)
    if args not in ([], ["serve"]):
        print(f"usage: python -m handlers.sagemaker_entry [serve]  (got {' '.join(args)!r})", file=sys.stderr)
        return 2
    configure_logging()
    import uvicorn

    try:
        settings = container_settings(os.environ)
        options = _uvicorn_options(settings)
        if settings.workers == 1:
            app = build_app(settings=settings)
            uvicorn.run(app, **options)  # type: ignore[arg-type]
        else:
            logger.info("starting %d worker processes", settings.workers)
            uvicorn.run("handlers.sagemaker_entry:worker_app", factory=True, workers=settings.workers, **options)  # type: ignore[arg-type]
    except SettingsError as exc:
        print(f"maaskit: {exc}", file=sys.stderr)
        return 2
    except BundleError as exc:
        print(f"maaskit: cannot serve the model: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
