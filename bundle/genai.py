"""Opening a generative bundle's model with onnxruntime-genai on the execution provider it should run on.

A bundle records the provider it was built for (``generation.execution_provider``). CPU bundles always
run on the CPU. A CUDA bundle (fp16, or int4 with fp16 activations) runs on CUDA when the caller asks
for it and onnxruntime-genai has CUDA; otherwise, and always for the packaging gate and ``verify`` on
a machine without a GPU, on the CPU execution provider, which runs the same graph (more slowly).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["cuda_available", "open_genai_model"]


def cuda_available() -> bool:
    """Whether the installed onnxruntime-genai can run on a CUDA device."""
    import onnxruntime_genai as og

    try:
        return bool(og.is_cuda_available())
    except Exception:  # builds without CUDA may raise instead of answering False
        return False


def open_genai_model(root: Path, *, on_cuda: bool = False, spinning: bool = True) -> Any:
    """``og.Model`` for the bundle (or exported folder) at ``root``: on CUDA when ``on_cuda`` and available,
    else on the CPU execution provider whatever provider its ``genai_config.json`` names.

    ``spinning=False``: onnxruntime's intra-op threads block between operators instead of spinning, so a
    server's event loop (and whatever else shares the cores) gets the CPU while a token is computed.
    """
    import onnxruntime_genai as og

    config = og.Config(str(root))
    if not spinning:
        config.overlay(json.dumps({"model": {"decoder": {"session_options": {"allow_spinning": "0"}}}}))
    if not (on_cuda and cuda_available()):
        config.clear_providers()
    return og.Model(config)
