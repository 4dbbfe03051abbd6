"""Runtime settings: precedence argument > environment > default; env var names from :mod:`bundle.names`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from bundle import names

__all__ = ["ENV", "LAMBDA_MAX_BODY_BYTES", "Settings", "SettingsError"]

#: Lambda's synchronous request/response limit (6 MB); also the SageMaker real-time limit.
LAMBDA_MAX_BODY_BYTES = 6 * 1024 * 1024

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
}

MetricsMode = Literal["prometheus", "emf", "none"]
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
    if name in {"max_body_bytes", "intra_op_threads", "inter_op_threads"}:
        try:
            number = int(text)
        except ValueError:
            raise SettingsError(f"{source}={raw!r} must be a whole number") from None
        if number < 0:
            raise SettingsError(f"{source}={raw!r} must not be negative")
        return number
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


_PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def _provider_name(text: str) -> str:
    """Accept short names (``cuda``, ``cpu``) as well as onnxruntime's full provider names."""
    return _PROVIDER_ALIASES.get(text.lower(), text)
