"""onnxruntime session creation: providers in order of preference, thread counts, fallbacks.

onnxruntime's own log lines (ANSI-coloured on stderr, e.g. "Failed to persist telemetry device ID" on
Lambda's read-only file system) are routed into the ``maaskit.onnxruntime`` logger, errors only, and its
telemetry is off: every line the runtime writes is one of maaskit's JSON lines.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from handlers.settings import Settings

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["CPU", "CUDA", "choose_providers", "create_session", "quiet_onnxruntime"]

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
logger = logging.getLogger("maaskit.session")
_ort_logger = logging.getLogger("maaskit.onnxruntime")
_ORT_ERROR = 3
_ORT_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR, 4: logging.CRITICAL}
_quieted: list[bool] = []


def _ort_log(severity: int, category: str, logid: str, code_location: str, message: str) -> None:
    _ort_logger.log(_ORT_LEVELS.get(severity, logging.ERROR), "%s [%s]", message, category or logid)


def quiet_onnxruntime() -> None:
    """Telemetry off; onnxruntime's errors into the ``maaskit.onnxruntime`` logger, nothing on raw stderr (once)."""
    if _quieted:
        return
    import onnxruntime as ort

    ort.disable_telemetry_events()
    callback = getattr(ort, "set_default_logger_callback", None)  # onnxruntime >= 1.32
    if callback is not None:
        callback(_ort_log, _ORT_ERROR)
    else:
        ort.set_default_logger_severity(_ORT_ERROR)
    _quieted.append(True)


def choose_providers(requested: tuple[str, ...], available: list[str]) -> list[str]:
    """Requested providers that this onnxruntime build has, in order, always ending with CPU.

    A requested provider that is missing (e.g. CUDA with the CPU-only wheel) is dropped with a warning.
    """
    chosen: list[str] = []
    for provider in requested:
        if provider in available:
            if provider not in chosen:
                chosen.append(provider)
        else:
            logger.warning(
                "execution provider %s was requested but this onnxruntime build only has %s; "
                "falling back (install onnxruntime-gpu for CUDA)",
                provider,
                ", ".join(available),
            )
    if CPU not in chosen:
        chosen.append(CPU)
    return chosen


def create_session(model_path: Path, settings: Settings) -> onnxruntime.InferenceSession:
    """An InferenceSession for ``model_path`` with the providers and thread counts from ``settings``."""
    import onnxruntime as ort

    quiet_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = settings.inter_op_threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    providers = choose_providers(settings.providers, ort.get_available_providers())
    session = ort.InferenceSession(str(model_path), sess_options=options, providers=providers)
    active = session.get_providers()
    if providers[0] != CPU and providers[0] not in active:
        logger.warning(
            "%s could not be initialised for %s (drivers or libraries missing?); running on %s",
            providers[0],
            model_path,
            ", ".join(active),
        )
    return session
