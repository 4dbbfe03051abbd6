"""Runtime settings: precedence argument > environment > default; env var names from :mod:`bundle.names`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from bundle import names
from bundle.limits import LAMBDA_PAYLOAD_BYTES

__all__ = ["ENV", "LAMBDA_MAX_BODY_BYTES", "Settings", "SettingsError", "target_defaults"]

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
}

MetricsMode = Literal["prometheus", "emf", "none"]
_WHOLE_NUMBERS = {
    "max_body_bytes", "intra_op_threads", "inter_op_threads", "body_min_rate", "max_header_bytes", "max_headers",
    "max_connections", "max_response_bytes", "offload_bytes", "decode_processes",
}  # fmt: skip
_SECONDS = {"header_timeout_s", "body_timeout_s", "request_timeout_s", "keep_alive_s"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """An environment variable or argument holds a value the runtime cannot use."""


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
    """Largest answer as the platform carries it (413 above it; 0: no limit). Lambda and SageMaker: 6 MB."""
    offload_bytes: int = 262144
    """Bodies of at least this many bytes are decoded in a worker thread, so health checks never wait on them."""
    decode_processes: int = 0
    """Worker processes that decode and encode large ``/invocations`` bodies (0: the thread; the container: 2)."""

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``overrides`` (arguments), else ``environ`` (default ``os.environ``), else defaults."""
        env = os.environ if environ is None else environ
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise SettingsError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for name, var in ENV.items():
            if overrides.get(name) is not None:
                values[name] = _normalize(name, overrides[name], f"argument {name}")
            elif var in env:
                values[name] = _parse(name, env[var], var)
        return cls(**values)


def _normalize(name: str, value: Any, source: str) -> Any:
    if isinstance(value, str):
        return _parse(name, value, source)
    if name == "bundles":
        return tuple(str(item) for item in value)
    if name == "providers":
        return tuple(_provider_name(str(item).strip()) for item in value)
    return value


def _parse(name: str, raw: str, source: str) -> Any:
    text = raw.strip()
    if name == "bundles":
        return tuple(part for part in text.split(os.pathsep) if part)
    if name == "providers":
        return tuple(_provider_name(part.strip()) for part in text.split(",") if part.strip())
    if name in _WHOLE_NUMBERS:
        try:
            number = int(text)
        except ValueError:
            raise SettingsError(f"{source}={raw!r} must be a whole number") from None
        if number < 0:
            raise SettingsError(f"{source}={raw!r} must not be negative")
        return number
    if name in _SECONDS:
        try:
            seconds = float(text)
        except ValueError:
            raise SettingsError(f"{source}={raw!r} must be a number of seconds") from None
        if not seconds >= 0:
            raise SettingsError(f"{source}={raw!r} must not be negative")
        return seconds
    if name in {"inline_max_ms", "inference_timeout_ms"}:
        try:
            millis = float(text)
        except ValueError:
            raise SettingsError(f"{source}={raw!r} must be a number of milliseconds") from None
        if millis < 0:
            raise SettingsError(f"{source}={raw!r} must not be negative")
        return millis
    if name in {"log_payload", "access_log", "verify_samples", "page"}:
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise SettingsError(f"{source}={raw!r} must be true or false")
    if name == "metrics":
        if text not in {"prometheus", "emf", "none"}:
            raise SettingsError(f"{source}={raw!r} must be one of prometheus, emf, none")
        return text
    return text


def target_defaults(environ: Mapping[str, str], **defaults: Any) -> dict[str, Any]:
    """A target's defaults for settings its environment leaves unset (argument > environment > target)."""
    return {name: value for name, value in defaults.items() if ENV[name] not in environ}


_PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def _provider_name(text: str) -> str:
    """Accept short names (``cuda``, ``cpu``) as well as onnxruntime's full provider names."""
    return _PROVIDER_ALIASES.get(text.lower(), text)
