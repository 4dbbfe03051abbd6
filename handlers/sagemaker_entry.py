"""SageMaker container entry: ``python -m handlers.sagemaker_entry [serve]``.

Loads the bundle(s) from the model directory (the extracted ``model.tar.gz``: a bundle root, or a
folder of bundles), picks onnxruntime-gpu's CUDA provider when it is there (CPU with a warning
otherwise), serves every model version through a request batcher (within the inference budget
when ``MAASKIT_INFERENCE_TIMEOUT_MS`` is set: :mod:`handlers.strategies`), and serves the one maaskit app
on ``0.0.0.0:8080`` under uvicorn (uvloop and httptools when installed). SageMaker starts the image
with the argument ``serve``; it is accepted and ignored.

Environment (argument > environment > default, as everywhere in maaskit):

==============================  ==========================================================
``SM_MODEL_DIR``                model directory (default ``/opt/ml/model``)
``MAASKIT_BUNDLES``             explicit bundle locations; wins over ``SM_MODEL_DIR``
``SAGEMAKER_BIND_TO_PORT``      port (default 8080)
``MAASKIT_WORKERS``             server processes (alias ``SAGEMAKER_MODEL_SERVER_WORKERS``);
                                default one per visible GPU, 1 without GPU
``MAASKIT_KEEP_ALIVE_S``        HTTP keep-alive seconds (default 75, above SageMaker's 60)
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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bundle import BundleError, names
from handlers.batching import BatchConfig
from handlers.settings import ENV, Settings, SettingsError
from handlers.strategies import choose_strategy
from handlers.tunnel import InvocationsTunnel

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["ServerConfig", "build_app", "default_providers", "main", "worker_app"]

logger = logging.getLogger("maaskit.sagemaker")

DEFAULT_MODEL_DIR = "/opt/ml/model"
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


class EntryConfigError(ValueError):
    """An environment variable of the container entry holds an unusable value."""


def _int_env(env: Mapping[str, str], variables: Sequence[str], default: int, minimum: int) -> int:
    for name in variables:
        raw = env.get(name, "").strip()
        if raw:
            try:
                value = int(raw)
            except ValueError:
                raise EntryConfigError(f"{name}={raw!r} must be a whole number") from None
            if value < minimum:
                raise EntryConfigError(f"{name}={raw!r} must be at least {minimum}")
            return value
    return default


@dataclass(frozen=True)
class ServerConfig:
    """Where and how the container serves: bind address, processes, keep-alive, batching."""

    host: str = "0.0.0.0"  # a container listens on all its interfaces
    port: int = 8080
    workers: int = 1
    keep_alive_s: int = 75
    batch: BatchConfig = field(default_factory=BatchConfig)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, gpu_count: int | None = None) -> ServerConfig:
        """Read the container's environment (see the module docstring for the names)."""
        source = os.environ if env is None else env
        gpus = len(visible_gpus(source)) if gpu_count is None else gpu_count
        workers = _int_env(source, (names.WORKERS, "SAGEMAKER_MODEL_SERVER_WORKERS"), max(gpus, 1), 1)
        port = _int_env(source, ("SAGEMAKER_BIND_TO_PORT", names.PORT), 8080, 1)
        if port > 65535:
            raise EntryConfigError(f"port {port} is out of range; set SAGEMAKER_BIND_TO_PORT to 1-65535")
        try:
            batch = BatchConfig.from_env(source)
        except ValueError as exc:
            raise EntryConfigError(str(exc)) from None
        return cls(
            host=source.get(names.HOST, "0.0.0.0"),
            port=port,
            workers=workers,
            keep_alive_s=_int_env(source, (names.KEEP_ALIVE_S,), 75, 1),
            batch=batch,
        )


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


def build_app(env: Mapping[str, str] | None = None, config: ServerConfig | None = None) -> Starlette:
    """Load, verify and warm every bundle, serve them batched (unless turned off) within the budget, build the app.

    Raises BundleError when a bundle is missing or cannot be trusted, SettingsError on bad settings.
    """
    from handlers.app import create_app
    from handlers.engine import ModelRepository

    source = dict(os.environ if env is None else env)
    config = config or ServerConfig.from_env(source)
    overrides: dict[str, object] = {"bundles": bundle_locations(source)}
    if not source.get(ENV["providers"], "").strip():
        overrides["providers"] = default_providers()
    settings = Settings.load(environ=source, **overrides)
    strategy = choose_strategy(settings, config.batch)  # the inference budget holds inside the batcher too
    repository = ModelRepository.load(settings, strategy=strategy)
    for runtime in repository.runtimes():
        logger.info("serving %s on %s, inference %s", runtime.key, ",".join(runtime.providers), strategy.describe())

    async def shut_down() -> None:
        await repository.close()
        logger.info("shut down: inference stopped (%s)", strategy.describe())

    app = create_app(repository, settings, on_shutdown=[shut_down])
    app.add_middleware(InvocationsTunnel)  # the API's maaskit routes arrive as /invocations (handlers.tunnel)
    return app


def worker_app() -> Starlette:
    """App factory for each uvicorn worker process: claim a GPU of its own, then build the app."""
    assign_worker_gpu(os.environ)
    return build_app()


def _uvicorn_options(config: ServerConfig) -> dict[str, object]:
    import importlib.util

    has = importlib.util.find_spec
    return {
        "host": config.host,
        "port": config.port,
        "loop": "uvloop" if has("uvloop") else "asyncio",
        "http": "httptools" if has("httptools") else "h11",
        "access_log": False,  # maaskit writes its own structured line per request
        "timeout_keep_alive": config.keep_alive_s,
        "log_level": "warning",
        "server_header": False,
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
        config = ServerConfig.from_env()
        options = _uvicorn_options(config)
        if config.workers == 1:
            app = build_app(config=config)
            uvicorn.run(app, **options)  # type: ignore[arg-type]
        else:
            logger.info("starting %d worker processes", config.workers)
            uvicorn.run("handlers.sagemaker_entry:worker_app", factory=True, workers=config.workers, **options)  # type: ignore[arg-type]
    except (EntryConfigError, SettingsError) as exc:
        print(f"maaskit: {exc}", file=sys.stderr)
        return 2
    except BundleError as exc:
        print(f"maaskit: cannot serve the model: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
