"""What the speech families' packagers share: the manifest fields of a torch.onnx export, and the result."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bundle.manifest import ToolInfo
from bundle.writer import BundlePaths
from model_packager.job import PackageResult
from model_packager.signature import file_signature

__all__ = ["exported_fields", "packaged"]


def exported_fields(
    model_path: Path, *, name: str, version: str, created: str, provenance: Any, metadata: Mapping[str, str] | None
) -> dict[str, Any]:
    """Manifest fields of a transformers model exported by torch.onnx: its name, tools, signature and provenance.

    ``files`` is a placeholder the writer fills with the real checksums.
    """
    import torch
    import transformers

    inputs, outputs, opsets = file_signature(model_path)
    return {
        "name": name,
        "version": version,
        "created": created,
        "framework": ToolInfo(name="transformers", version=transformers.__version__),
        "converter": ToolInfo(name="torch.onnx", version=torch.__version__.split("+")[0]),
        "opsets": opsets,
        "inputs": inputs,
        "outputs": outputs,
        "files": {"model.onnx": {"sha256": "0" * 64, "size": 0}},
        "provenance": provenance,
        "metadata": dict(metadata or {}),
    }


def packaged(paths: BundlePaths, notes: list[str], started: float, exported: float, gated: float) -> PackageResult:
    """The result of a written bundle (re-read and verified), with each stage's seconds."""
    from bundle import open_bundle

    written = open_bundle(paths.directory)
    timings = {"export_s": exported - started, "gate_s": gated - exported, "total_s": time.perf_counter() - started}
    return PackageResult(paths.directory, paths.archive, written.manifest, notes, timings)
