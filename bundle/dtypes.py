"""The manifest's dtypes in the terms of each library that takes them: numpy, onnxruntime, TF Serving.

One table per target, keyed by the manifest's dtype names (:data:`bundle.manifest` ``TensorSpec.dtype``);
the OIP wire datatypes live beside the wire format (:mod:`bundle.wire`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MANIFEST_DTYPES", "NUMPY_DTYPES", "ORT_TYPES", "TF_DTYPES"]

_INTEGERS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")

#: Manifest dtype -> numpy dtype fed to onnxruntime (strings go in as object arrays).
NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    name: np.dtype(name) for name in ("float16", "float32", "float64", *_INTEGERS, "bool")
} | {"string": np.dtype("O")}

#: Manifest dtype -> the type onnxruntime reports for a graph input (``NodeArg.type``).
ORT_TYPES: dict[str, str] = {
    "float16": "tensor(float16)",
    "float32": "tensor(float)",
    "float64": "tensor(double)",
    "bool": "tensor(bool)",
    "string": "tensor(string)",
} | {name: f"tensor({name})" for name in _INTEGERS}

#: Manifest dtype -> TensorFlow Serving's ``DataType`` name (model metadata).
TF_DTYPES: dict[str, str] = {
    "float16": "DT_HALF",
    "float32": "DT_FLOAT",
    "float64": "DT_DOUBLE",
    "bool": "DT_BOOL",
    "string": "DT_STRING",
} | {name: f"DT_{name.upper()}" for name in _INTEGERS}

#: Every dtype a manifest may name.
MANIFEST_DTYPES: tuple[str, ...] = tuple(NUMPY_DTYPES)
