"""ONNX graph signature: tensor specs for the manifest and feeds for onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from bundle import TensorSpec
from model_packager.converters.base import ConversionError

__all__ = ["ONNX_DTYPES", "as_ort_feed", "file_signature", "graph_specs", "normalize_model", "opsets_of"]

#: ONNX element type -> manifest dtype name.
ONNX_DTYPES: dict[int, str] = {
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.DOUBLE: "float64",
    onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.INT16: "int16",
    onnx.TensorProto.INT32: "int32",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.UINT16: "uint16",
    onnx.TensorProto.UINT32: "uint32",
    onnx.TensorProto.UINT64: "uint64",
    onnx.TensorProto.BOOL: "bool",
    onnx.TensorProto.STRING: "string",
}


def _spec(value: onnx.ValueInfoProto, role: str) -> TensorSpec:
    if not value.type.HasField("tensor_type"):
        kind = value.type.WhichOneof("value")
        raise ConversionError(
            f"{role} {value.name!r} is a {kind}, not a tensor; maaskit serves tensor inputs and outputs only "
            "(for scikit-learn classifiers this means zipmap=False, which maaskit sets)"
        )
    tensor = value.type.tensor_type
    dtype = ONNX_DTYPES.get(tensor.elem_type)
    if dtype is None:
        name = onnx.TensorProto.DataType.Name(tensor.elem_type)
        raise ConversionError(f"{role} {value.name!r} has element type {name}, which maaskit cannot serve")
    shape: list[int | None] = []
    if tensor.HasField("shape"):
        shape = [dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else None for dim in tensor.shape.dim]
    return TensorSpec(name=value.name, dtype=dtype, shape=shape)  # type: ignore[arg-type]


def graph_specs(model: onnx.ModelProto) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Input and output specs of ``model`` (initializers listed as inputs are left out)."""
    initializers = {init.name for init in model.graph.initializer}
    inputs = [_spec(value, "input") for value in model.graph.input if value.name not in initializers]
    outputs = [_spec(value, "output") for value in model.graph.output]
    return inputs, outputs


def opsets_of(model: onnx.ModelProto) -> dict[str, int]:
    """Opset per domain, with the default domain spelled ``ai.onnx``."""
    return {(entry.domain or "ai.onnx"): int(entry.version) for entry in model.opset_import}


def file_signature(path: Path) -> tuple[list[TensorSpec], list[TensorSpec], dict[str, int]]:
    """Input specs, output specs and opsets of the ONNX file at ``path`` (its external weights are not read)."""
    model = onnx.load(str(path), load_external_data=False)
    inputs, outputs = graph_specs(model)
    return inputs, outputs, opsets_of(model)


def normalize_model(model: onnx.ModelProto, graph_name: str) -> onnx.ModelProto:
    """Make the serialized model reproducible: fixed graph name, one opset entry per domain.

    Some converters name the graph with a random UUID or list a domain twice;
    both would make equal inputs give different bytes.
    """
    model.graph.name = graph_name
    seen: dict[str, int] = {}
    for entry in model.opset_import:
        seen[entry.domain] = max(seen.get(entry.domain, 0), int(entry.version))
    del model.opset_import[:]
    for domain in sorted(seen):
        model.opset_import.add(domain=domain, version=seen[domain])
    return model


def as_ort_feed(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Arrays onnxruntime accepts: unicode/bytes arrays become object arrays of str."""
    feed: dict[str, np.ndarray] = {}
    for name, array in inputs.items():
        if array.dtype.kind in {"U", "S"}:
            feed[name] = array.astype(str).astype(object)
        else:
            feed[name] = array
    return feed
