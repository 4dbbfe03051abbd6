"""onnxruntime session creation: providers in order of preference, thread counts, fallbacks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from handlers.settings import Settings

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["CPU", "CUDA", "choose_providers", "create_session"]

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
logger = logging.getLogger("maaskit.session")


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
