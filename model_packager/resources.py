"""What a model costs in memory and start-up time: refused before packaging, measured after.

* Before any work, :func:`check_packaging_memory` estimates the peak memory packaging needs from the
  size of the weights and refuses (:class:`ModelTooLargeError`) when this machine has less available
  (``MemAvailable`` of ``/proc/meminfo``, and the cgroup's limit when there is one).
* After conversion, :func:`measure_resources` loads the final model.onnx in a FRESH process that
  imports only numpy and onnxruntime, as a serving process would, runs the samples once, and reports
  its peak resident memory and its time to the first answer. The manifest records both; the deploy
  step sizes Lambda memory from them and warns near the 10 s init limit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bundle import Resources
from model_packager.converters.base import PackagingError

__all__ = [
    "PACKAGING_PEAK_FACTOR",
    "ModelTooLargeError",
    "available_memory",
    "check_packaging_memory",
    "measure_resources",
    "packaging_estimate",
    "weights_bytes",
]

#: Peak packaging memory per byte of weights, beyond the weights a caller already holds in memory:
#: the ONNX protobuf (1x) and then, after it is freed, one onnxruntime session for parity (1x), with
#: transient per-tensor copies. Measured figures are in the closing notes of issue 13.
PACKAGING_PEAK_FACTOR = 1.5
#: Libraries loaded while packaging (onnx, onnxruntime, the framework): counted once.
LIBRARY_OVERHEAD_BYTES = 768 * 1024**2
_PROBE_TIMEOUT_S = 600

_PROBE = r"""
import json, resource, sys, time
started = time.perf_counter()
import numpy as np
import onnxruntime as ort
options = ort.SessionOptions()
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
options.log_severity_level = 3
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
names = {i.name for i in session.get_inputs()}
with np.load(sys.argv[2], allow_pickle=False) as data:
    feed = {k[6:]: data[k] for k in data.files if k.startswith("input/") and k[6:] in names}
feed = {k: (v.astype(object) if v.dtype.kind in "US" else v) for k, v in feed.items()}
session.run(None, feed)
ready = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
try:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
except OSError:
    pass
print(json.dumps({"resident_bytes": peak, "ready_seconds": round(ready, 3)}))
"""


class ModelTooLargeError(PackagingError):
    """Packaging this model needs more memory than this machine has available."""


def _onnx_file_weights(path: Path) -> int:
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False)
    except Exception:  # unreadable: the converter's loader reports it properly
        return path.stat().st_size
    locations: set[str] = {
        str(entry.value)
        for tensor in graph.graph.initializer
        if tensor.data_location == onnx.TensorProto.EXTERNAL
        for entry in tensor.external_data
        if entry.key == "location"
    }
    return path.stat().st_size + sum(
        (path.parent / name).stat().st_size for name in locations if (path.parent / name).is_file()
    )


def weights_bytes(model_or_path: Any) -> tuple[int, bool] | None:
    """Bytes of the model's weights and whether they are already in this process's memory, or None if unknown.

    Covers model files and directories (their size on disk; an .onnx file with its external data),
    ``onnx.ModelProto`` objects and anything with ``parameters()``/``buffers()`` (torch modules).
    """
    if isinstance(model_or_path, str | Path):
        path = Path(model_or_path)
        if path.is_file():
            return (_onnx_file_weights(path) if path.suffix.lower() == ".onnx" else path.stat().st_size), False
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()), False
        return None
    if hasattr(model_or_path, "ByteSize") and hasattr(model_or_path, "graph"):
        tensors = model_or_path.graph.initializer
        return sum(len(t.raw_data) for t in tensors), True
    if callable(getattr(model_or_path, "parameters", None)) and callable(getattr(model_or_path, "buffers", None)):
        tensors = [*model_or_path.parameters(), *model_or_path.buffers()]
        return sum(int(t.numel()) * int(t.element_size()) for t in tensors), True
    return None


def packaging_estimate(weights: int, *, in_memory: bool) -> int:
    """Peak bytes packaging needs beyond what this process holds now (an in-memory model is already held)."""
    factor = PACKAGING_PEAK_FACTOR if in_memory else PACKAGING_PEAK_FACTOR + 1.0
    return int(weights * factor) + LIBRARY_OVERHEAD_BYTES


def _cgroup_available() -> int | None:
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((root / "memory.current").read_text().strip())
    except (OSError, ValueError):
        return None


def available_memory() -> int | None:
    """Bytes this process may still allocate: MemAvailable, capped by the cgroup's limit; None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        available: int | None = int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        available = None
    cgroup = _cgroup_available()
    known = [value for value in (available, cgroup) if value is not None]
    return min(known) if known else None


def check_packaging_memory(model_or_path: Any) -> int | None:
    """Refuse, before any work, a model whose packaging would not fit in the memory available here.

    Returns the estimate in bytes (None when the weights' size is unknown, e.g. a scikit-learn object).
    """
    found = weights_bytes(model_or_path)
    if found is None:
        return None
    weights, in_memory = found
    estimate = packaging_estimate(weights, in_memory=in_memory)
    available = available_memory()
    if available is not None and estimate > available:
        gib = 1024**3
        raise ModelTooLargeError(
            f"packaging a model with {weights / gib:.2f} GiB of weights needs about {estimate / gib:.1f} GiB of memory "
            f"(weights x {PACKAGING_PEAK_FACTOR + (0 if in_memory else 1):g} + {LIBRARY_OVERHEAD_BYTES / gib:.2f} GiB "
            f"of libraries) and {available / gib:.1f} GiB is available (MemAvailable); free memory or package it "
            "on a larger machine (nothing was written)"
        )
    return estimate


def measure_resources(model_path: Path, samples_path: Path, *, timeout_s: float = _PROBE_TIMEOUT_S) -> Resources:
    """Load ``model_path`` in a fresh onnxruntime process, run the samples once; its peak RSS and time to ready."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, str(model_path), str(samples_path)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PackagingError(
            f"the model took more than {timeout_s:.0f} s to load and answer in onnxruntime; it cannot serve "
            "from Lambda or behind API Gateway's 29 s"
        ) from None
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise PackagingError(f"measuring the model's memory in a fresh onnxruntime process failed: {tail[0]}")
    return Resources.model_validate(json.loads(done.stdout.strip().splitlines()[-1]))
