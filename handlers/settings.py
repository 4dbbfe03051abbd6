"""Runtime settings of every entry (``maaskit serve``, Lambda, the SageMaker container, the batcher).

One object, one parser, one type per setting: precedence argument > environment > the target's
default > the default below. Variable names come from :mod:`bundle.names`; a bad value raises
:class:`SettingsError` naming the variable, the value and what to set instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from bundle import names
from bundle.limits import LAMBDA_PAYLOAD_BYTES
from handlers.setting_kinds import KINDS, SettingsError, provider_name

__all__ = ["ALIASES", "ENV", "LAMBDA_MAX_BODY_BYTES", "Settings", "SettingsError", "target_defaults", "variables"]

#: Lambda's synchronous request/response limit (6 MB); also the SageMaker real-time limit.
LAMBDA_MAX_BODY_BYTES = LAMBDA_PAYLOAD_BYTES

#: Setting name -> environment variable (the names are spelled once, in bundle.names).
ENV: dict[str, str] = {
    "bundles": names.BUNDLES,
    "max_body_bytes": names.MAX_BODY_BYTES,
    "providers": names.PROVIDERS,
    "intra_op_threads": names.INTRA_OP_THREADS,
    "inter_op_threads": names.INTER_OP_THREADS,
    "log_payload": names.LOG_PAYLOAD,
    "access_log": names.ACCESS_LOG,
    "metrics": names.METRICS,
    "verify_samples": names.VERIFY_SAMPLES,
    "inline_max_ms": names.INLINE_MAX_MS,
    "inference_timeout_ms": names.INFERENCE_TIMEOUT_MS,
    "service_name": names.SERVICE_NAME,
    "base_path": names.BASE_PATH,
    "page": names.PAGE,
    # Servers maaskit starts (`maaskit serve`, the SageMaker container); see handlers/connections.py.
    "host": names.HOST,
    "port": names.PORT,
    "workers": names.WORKERS,
    "header_timeout_s": names.HEADER_TIMEOUT_S,
    "body_timeout_s": names.BODY_TIMEOUT_S,
    "body_min_rate": names.BODY_MIN_RATE,
    "request_timeout_s": names.REQUEST_TIMEOUT_S,
    "keep_alive_s": names.KEEP_ALIVE_S,
    "max_header_bytes": names.MAX_HEADER_BYTES,
    "max_headers": names.MAX_HEADERS,
    "max_connections": names.MAX_CONNECTIONS,
    # Answers and decoding (every target); see handlers/limits.py and handlers/offload.py.
    "max_response_bytes": names.MAX_RESPONSE_BYTES,
    "offload_bytes": names.OFFLOAD_BYTES,
    "decode_processes": names.DECODE_PROCESSES,
    # Request batching (handlers/batching.py); the SageMaker container turns it on.
    "batching": names.BATCHING,
    "batch_max_size": names.BATCH_MAX_SIZE,
    "batch_max_wait_ms": names.BATCH_MAX_WAIT_MS,
    # Generation (handlers/generation).
    "generation_queue": names.GENERATION_QUEUE,
    # Data capture (handlers/capture.py); set by the CDK app for an endpoint with ``capture:``.
    "capture_bucket": names.CAPTURE_BUCKET,
    "capture_prefix": names.CAPTURE_PREFIX,
    "capture_kms_key": names.CAPTURE_KMS_KEY,
    "capture_sample": names.CAPTURE_SAMPLE,
    "capture_redact": names.CAPTURE_REDACT,
}

#: Settings that SageMaker also names, every variable in the order read (the first one set wins).
ALIASES: dict[str, tuple[str, ...]] = {
    "port": (names.SAGEMAKER_PORT, names.PORT),  # the port SageMaker assigns is the one it health-checks
    "workers": (names.WORKERS, names.SAGEMAKER_WORKERS),
}

#: How each setting's text is read: a kind of :data:`handlers.setting_kinds.KINDS` and its bounds.
_KIND: dict[str, tuple[str, float | None, float | None]] = {
    "bundles": ("paths", None, None),
    "providers": ("providers", None, None),
    "metrics": ("metrics", None, None),
    "service_name": ("text", None, None),
    "base_path": ("text", None, None),
    "host": ("text", None, None),
    "log_payload": ("bool", None, None),
    "access_log": ("bool", None, None),
    "verify_samples": ("bool", None, None),
    "page": ("bool", None, None),
    "batching": ("bool", None, None),
    "inline_max_ms": ("ms", 0, None),
    "inference_timeout_ms": ("ms", 0, None),
    "batch_max_wait_ms": ("ms", 0, 1000),
    "header_timeout_s": ("seconds", 0, None),
    "body_timeout_s": ("seconds", 0, None),
    "request_timeout_s": ("seconds", 0, None),
    "keep_alive_s": ("seconds", 0, None),
    "port": ("int", 1, 65535),
    "workers": ("int", 1, None),
    "batch_max_size": ("int", 1, None),
    "capture_bucket": ("text", None, None),
    "capture_prefix": ("text", None, None),
    "capture_kms_key": ("text", None, None),
    "capture_sample": ("share", 0, 1),
    "capture_redact": ("names", None, None),
}  # every other setting: a whole number, not negative

MetricsMode = Literal["prometheus", "emf", "none"]


@dataclass(frozen=True)
class Settings:
    """How the runtime loads and serves bundles.

    Build with :meth:`Settings.load` to read the environment; plain construction uses defaults only.
    """

    bundles: tuple[str, ...] = ()
    """Bundle directories, archives or parent directories (globs allowed); env: os.pathsep-separated."""
    max_body_bytes: int = LAMBDA_MAX_BODY_BYTES
    """Largest request body accepted (413 above it). Default: 6 MB, the Lambda limit."""
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    """onnxruntime execution providers in order of preference; env: comma-separated."""
    intra_op_threads: int = 0
    """Threads inside one operator (0: onnxruntime's default, one per core)."""
    inter_op_threads: int = 0
    """Threads across operators (0: onnxruntime's default)."""
    log_payload: bool = False
    """Log request bodies (never on by default: they may hold personal data)."""
    access_log: bool = True
    """Write one structured JSON line per request."""
    metrics: MetricsMode = "prometheus"
    """``prometheus`` (text at /metrics), ``emf`` (CloudWatch embedded metric format in the log line) or ``none``."""
    verify_samples: bool = True
    """At warm-up, compare the model's answers on its samples with the stored outputs; refuse on mismatch."""
    inline_max_ms: float = 1.0
    """Run inference inline on the event loop when a warm single-row run takes less than this; else a thread."""
    inference_timeout_ms: float = 0.0
    """Budget of one model run; a longer run is stopped and answered 504 (0: no budget). Runs go to a thread."""
    service_name: str = "maaskit"
    """Name reported by server metadata routes and used as the metrics namespace."""
    base_path: str = "/"
    """Lambda only: a custom-domain base path that API Gateway leaves in the request path (e.g. ``/iris``)."""
    page: bool = True
    """Serve the HTML model page to browsers at ``/`` and ``/models/{name}`` (off on Lambda unless set)."""
    host: str = "127.0.0.1"
    """Servers: address to bind (the SageMaker container: ``0.0.0.0``)."""
    port: int = 8000
    """Servers: TCP port (the SageMaker container: 8080; ``SAGEMAKER_BIND_TO_PORT`` wins when set)."""
    workers: int = 1
    """Servers: worker processes, each loading every bundle (the container: one per GPU;
    alias ``SAGEMAKER_MODEL_SERVER_WORKERS``)."""
    header_timeout_s: float = 10.0
    """Servers: seconds a client has to send a request's line and headers (also a new connection's first byte); 408."""
    body_timeout_s: float = 10.0
    """Servers: seconds a body may take before the minimum rate applies (mod_reqtimeout's ``body=``); 408; 0: off."""
    body_min_rate: int = 16384
    """Servers: bytes per second a body must keep up after ``body_timeout_s`` (each that many bytes earn a second)."""
    request_timeout_s: float = 120.0
    """Servers: seconds from a request's headers to its answer (body, inference, encoding); 408 or 504; 0: off."""
    keep_alive_s: float = 5.0
    """Servers: seconds an idle keep-alive connection stays open (the SageMaker container: 75, above its 60)."""
    max_header_bytes: int = 32768
    """Servers: largest request line plus headers (431 above it)."""
    max_headers: int = 100
    """Servers: most header fields in one request (431 above it)."""
    max_connections: int = 1000
    """Servers: concurrent connections or requests before new requests get 503 (0: no limit)."""
    max_response_bytes: int = 0
    """Largest answer as the platform carries it (413 above it; 0: no limit). Lambda: 6 MB (ALB: 1 MB);
    SageMaker: 6 MB."""
    offload_bytes: int = 262144
    """Bodies of at least this many bytes are decoded in a worker thread, so health checks never wait on them."""
    decode_processes: int = 0
    """Worker processes that decode and encode large bodies outside the server's GIL (0: the thread only;
    ``maaskit serve`` and the container: 2, at most one per core)."""
    batching: bool = False
    """Gather concurrent requests into one model run (the SageMaker container: on)."""
    batch_max_size: int = 32
    """Rows per batched run."""
    batch_max_wait_ms: float = 2.0
    """How long a batch waits to fill after its first request (0-1000)."""
    generation_queue: int = 16
    """Generative models: requests that may wait for the generation worker before new ones get 429."""
    capture_bucket: str = ""
    """Data capture: the S3 bucket sampled requests and answers are written to (empty: capture off)."""
    capture_prefix: str = "capture/"
    """Data capture: the key prefix of the captured objects."""
    capture_kms_key: str = ""
    """Data capture: the KMS key the objects are encrypted with (empty: the bucket's default key)."""
    capture_sample: float = 0.0
    """Data capture: the share of requests captured, 0-1 (0: capture off)."""
    capture_redact: tuple[str, ...] = ()
    """Data capture: fields removed before writing (key names at any depth, or dotted paths); env: comma-separated."""

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``overrides`` (arguments; None: not given), else ``environ`` (default ``os.environ``)."""
        env = os.environ if environ is None else environ
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise SettingsError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for name in ENV:
            if overrides.get(name) is not None:
                values[name] = _normalize(name, overrides[name], f"argument {name}")
                continue
            for var in variables(name):
                if env.get(var, "").strip():
                    values[name] = parse(name, env[var], var)
                    break
        return cls(**values)


def variables(name: str) -> tuple[str, ...]:
    """The environment variables of setting ``name``, the one that wins first."""
    return ALIASES.get(name, (ENV[name],))


def parse(name: str, raw: str, source: str) -> Any:
    """The value of setting ``name`` read from the text ``raw`` found in ``source`` (a variable's name)."""
    kind, low, high = _KIND.get(name, ("int", 0, None))
    return KINDS[kind](raw.strip(), source, low, high)


def _normalize(name: str, value: Any, source: str) -> Any:
    if isinstance(value, str):
        return parse(name, value, source)
    if name in {"bundles", "capture_redact"}:
        return tuple(str(item) for item in value)
    if name == "providers":
        return tuple(provider_name(str(item).strip()) for item in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return parse(name, str(value), source)  # the same bounds as the environment's
    return value


def target_defaults(environ: Mapping[str, str], **defaults: Any) -> dict[str, Any]:
    """A target's defaults for settings its environment leaves unset (argument > environment > target)."""
    return {
        name: value
        for name, value in defaults.items()
        if not any(environ.get(var, "").strip() for var in variables(name))
    }
