"""samples.npz: sample inputs and the outputs the ORIGINAL model gave for them.

Keys are ``input/<name>`` and ``output/<name>``. The file is written
deterministically (sorted entries, fixed timestamps) and never needs pickle:
string tensors are stored as fixed-width unicode arrays.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from bundle.errors import BundleFormatError

__all__ = ["Samples", "read_samples", "samples_bytes", "to_storable"]

_FIXED_DATE = (1980, 1, 1, 0, 0, 0)


class Samples:
    """Named sample inputs and the reference outputs of the original model."""

    def __init__(self, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> None:
        self.inputs = inputs
        self.outputs = outputs

    @property
    def count(self) -> int:
        """Number of sample rows (the leading axis of the first input)."""
        first = next(iter(self.inputs.values()))
        return int(first.shape[0]) if first.ndim else 1


def to_storable(array: np.ndarray) -> np.ndarray:
    """Turn object/string arrays into fixed-width unicode so no pickle is needed."""
    if array.dtype == object or array.dtype.kind in {"U", "S"}:
        return np.asarray(array.astype(str))
    return np.ascontiguousarray(array)


def samples_bytes(inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> bytes:
    """Serialize samples to deterministic .npz bytes."""
    buffer = io.BytesIO()
    entries = [(f"input/{k}", v) for k, v in inputs.items()] + [(f"output/{k}", v) for k, v in outputs.items()]
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in sorted(entries, key=lambda item: item[0]):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            payload = io.BytesIO()
            np.lib.format.write_array(payload, to_storable(np.asarray(array)), allow_pickle=False)
            archive.writestr(info, payload.getvalue())
    return buffer.getvalue()


def read_samples(path: Path) -> Samples:
    """Load samples.npz without pickle; raise BundleFormatError when it is unreadable."""
    inputs: dict[str, np.ndarray] = {}
    outputs: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                kind, _, name = key.partition("/")
                if kind == "input":
                    inputs[name] = data[key]
                elif kind == "output":
                    outputs[name] = data[key]
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise BundleFormatError(f"{path.name} cannot be read as samples: {exc}") from None
    if not inputs:
        raise BundleFormatError(f"{path.name} holds no input/<name> arrays")
    return Samples(inputs, outputs)
