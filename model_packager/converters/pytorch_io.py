"""PyTorch helpers: archive detection, binding samples to forward, naming outputs and dims.

Nothing here imports torch at module level: functions take the imported ``torch``
module as an argument, so importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx

from bundle import TensorSpec
from model_packager.converters.base import ConversionError, SampleData, SampleMismatchError
from model_packager.converters.common import first_line

__all__ = [
    "ArchiveKind",
    "archive_kind",
    "argument_names",
    "first_line",
    "flat_outputs",
    "name_dims",
    "program_specs",
    "quiet",
    "run_original",
    "sample_args",
]

ArchiveKind = Literal["torchscript", "exported", "checkpoint"]


def archive_kind(path: Path) -> ArchiveKind | None:
    """What a torch zip archive holds, by its entries (not its suffix); None if it is none of them."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return None
    parts = [name.split("/") for name in names]
    if any(len(p) > 2 and p[1] == "models" and p[-1].endswith(".json") for p in parts):
        return "exported"
    if any(len(p) > 2 and p[1] == "code" for p in parts) and any(p[-1] == "data.pkl" for p in parts):
        return "torchscript"
    if any(p[-1] == "data.pkl" for p in parts):
        return "checkpoint"
    return None


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the exporters' chatter (torchvision op notes, deprecation and tracer warnings)."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch._export", "torch.export", "torch._dynamo")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def argument_names(model: Any, torch: Any) -> tuple[list[str], int]:
    """Input names of ``forward`` and how many of them are required."""
    if isinstance(model, torch.jit.ScriptModule):
        arguments = list(model.forward.schema.arguments)[1:]  # drop self
        return [a.name for a in arguments], sum(1 for a in arguments if a.default_value is None)
    params = inspect.signature(model.forward).parameters.values()
    named = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [p.name for p in named], sum(1 for p in named if p.default is p.empty)


def _tensor(value: object, name: str, float_dtype: Any, torch: Any, notes: list[str]) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if hasattr(value, "to_numpy"):  # a pandas DataFrame or Series
        value = value.to_numpy()
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise SampleMismatchError(f"input {name!r}: the sample holds {array.dtype} values; torch models take numbers")
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if array.dtype == np.float64 and float_dtype != torch.float64:
        notes.append(f"sample {name!r} was float64; cast to {str(float_dtype).removeprefix('torch.')} like the model")
        tensor = tensor.to(float_dtype)
    return tensor


def sample_args(
    sample: SampleData, names: list[str], required: int, *, float_dtype: Any, torch: Any, notes: list[str]
) -> tuple[list[str], list[Any]]:
    """The sample as positional tensors for ``forward`` (and the names they bind to)."""
    if sample is None:
        raise SampleMismatchError(
            f"a PyTorch module does not record its input shapes: give a sample for forward({', '.join(names)}) "
            "(a tensor or array, a tuple of them, or a dict by argument name)"
        )
    if isinstance(sample, Mapping):
        unknown = [str(key) for key in sample if key not in names]
        if unknown:
            raise SampleMismatchError(f"sample names {unknown} are not arguments of forward({', '.join(names)})")
        given = [name for name in names if name in sample]
        if given != names[: len(given)]:
            missing = [name for name in names[: len(given)] if name not in sample]
            raise SampleMismatchError(f"sample is missing {missing}: give forward's arguments in order {names}")
        values = [sample[name] for name in given]
    elif isinstance(sample, tuple | list) and not (len(names) == 1 and isinstance(sample, list)):
        values = list(sample)
    else:
        values = [sample]
    if not required <= len(values) <= len(names):
        raise SampleMismatchError(
            f"sample has {len(values)} input(s); forward takes {required} to {len(names)}: {names}"
        )
    bound = names[: len(values)]
    return bound, [_tensor(v, n, float_dtype, torch, notes) for n, v in zip(bound, values, strict=True)]


def flat_outputs(result: Any, torch: Any) -> tuple[list[str], list[np.ndarray]]:
    """Name and flatten what forward returned: ``output``, ``output_0..n``, or the keys of a dict."""
    if isinstance(result, Mapping):
        items = [(str(key), value) for key, value in result.items()]
    elif isinstance(result, tuple | list):
        leaves, _ = torch.utils._pytree.tree_flatten(result)
        items = [(f"output_{index}", value) for index, value in enumerate(leaves)]
    else:
        items = [("output", result)]
    bad = [name for name, value in items if not isinstance(value, torch.Tensor)]
    if bad:
        raise ConversionError(f"forward returned non-tensor output(s) {bad}; ONNX models return tensors only")
    return [name for name, _ in items], [value.detach().cpu().numpy() for _, value in items]


def run_original(model: Any, args: Sequence[Any], names: list[str], torch: Any) -> Any:
    try:
        with torch.no_grad():
            return model(*args)
    except Exception as exc:
        shapes = ", ".join(
            f"{n} {list(a.shape)} {str(a.dtype).removeprefix('torch.')}" for n, a in zip(names, args, strict=False)
        )
        raise SampleMismatchError(
            f"the model failed on the sample ({shapes}): {first_line(exc)}; give a sample its forward accepts"
        ) from None


def name_dims(model: onnx.ModelProto, input_names: Sequence[str]) -> None:
    """Give the exporter's symbolic dims (``s43``) readable names: ``batch``, ``<input>_dim<axis>``.

    Axes torch.export specialized can come out as a numeric ``dim_param`` ("4"): they become fixed dims.
    """
    values = [*model.graph.input, *model.graph.output, *model.graph.value_info]
    for value in values:
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_param") and dim.dim_param.isdigit():
                dim.dim_value = int(dim.dim_param)
    names: dict[str, str] = {}
    for value in model.graph.input:
        if value.name not in input_names:
            continue
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.HasField("dim_param") and dim.dim_param not in names:
                wanted = "batch" if axis == 0 and "batch" not in names.values() else f"{value.name}_dim{axis}"
                names[dim.dim_param] = wanted
    for value in values:
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_param") and dim.dim_param in names:
                dim.dim_param = names[dim.dim_param]


def program_specs(program: Any, torch: Any) -> list[TensorSpec]:
    """User inputs of an ExportedProgram with dtype and shape (None where symbolic)."""
    wanted = set(program.graph_signature.user_inputs)
    specs = []
    for node in program.graph.nodes:
        if node.op != "placeholder" or node.name not in wanted:
            continue
        value = node.meta.get("val")
        if not isinstance(value, torch.Tensor):
            raise ConversionError(f"program input {node.name!r} is not a tensor; maaskit serves tensor inputs only")
        dtype = str(value.dtype).removeprefix("torch.")
        shape = [dim if isinstance(dim, int) else None for dim in value.shape]
        specs.append(TensorSpec(name=node.name, dtype=dtype, shape=shape))  # type: ignore[arg-type]
    return specs
