"""PyTorch: nn.Module objects, TorchScript files and torch.export programs, via torch.onnx.

An ``nn.Module`` is captured with ``torch.export`` (non-strict) and converted by the
dynamo exporter; by default every input axis is marked ``Dim.AUTO``, so axes the
model really lets vary (batch, sequence) come out dynamic and the others fixed.
A TorchScript module goes through the dynamo exporter when it can take it and the
TorchScript exporter otherwise. A ``.pt2`` program keeps the dynamic axes it was
exported with. The exported ModelProto holds the weights in memory; the packager writes them
inline, or as ``model.onnx.data`` when it is large (``model_packager.model_files``).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from bundle import MODEL_FILE, ToolInfo
from model_packager import model_files
from model_packager.converters.base import (
    Conversion,
    ConversionError,
    Converter,
    ConvertOptions,
    ModelLoadError,
    SampleData,
    SampleMismatchError,
    UnsupportedModelError,
    require,
)
from model_packager.converters.heads import apply_classifier_head
from model_packager.converters.pytorch_io import (
    archive_kind,
    argument_names,
    first_line,
    flat_outputs,
    name_dims,
    program_specs,
    quiet,
    run_original,
    sample_args,
)
from model_packager.samples import feed_for_specs, generate_feed

__all__ = ["TorchConverter"]


#: An exported model, its converter, and the temporary folder holding its weights (large models) or None.
_Exported = tuple[onnx.ModelProto, ToolInfo, Path | None]


@dataclass
class _Job:
    """One module conversion: the module, its sample bound to forward, and where notes go."""

    model: Any
    args: list[Any]
    names: list[str]
    output_names: list[str]
    options: ConvertOptions
    torch: Any
    notes: list[str]

    def shapes(self) -> Any:
        """torch.export dynamic_shapes: Dim.AUTO on every axis, or DYNAMIC on the axes the options name."""
        dim, axes = self.torch.export.Dim, self.options.dynamic_axes
        if axes is None:
            return tuple({axis: dim.AUTO for axis in range(arg.dim())} or None for arg in self.args)
        unknown = sorted(set(axes) - set(self.names))
        if unknown:
            raise SampleMismatchError(f"dynamic_axes names {unknown} are not inputs of the model {self.names}")
        return tuple({int(axis): dim.DYNAMIC for axis in axes.get(name, ())} or None for name in self.names)


class TorchConverter(Converter):
    """nn.Module objects, TorchScript files (.pt/.pth) and torch.export programs (.pt2)."""

    name = "torch"
    extra = "torch"
    handles = "PyTorch nn.Module objects (with a sample), TorchScript files (torch.jit.save) and .pt2 programs"
    suffixes = (".pt", ".pth", ".pt2")

    def can_load(self, path: Path) -> bool:
        """A .pt/.pth/.pt2 file, or any file whose archive holds TorchScript or a torch.export program."""
        if not path.is_file():
            return False
        return path.name.lower().endswith(self.suffixes) or archive_kind(path) in {"torchscript", "exported"}

    def load(self, path: Path) -> object:
        """Load a TorchScript module or an ExportedProgram (never a pickled checkpoint)."""
        kind = archive_kind(path)
        if kind == "checkpoint":
            raise UnsupportedModelError(
                f"{path.name} is a torch.save checkpoint (pickled weights or module), which needs its Python class: "
                "save the model with torch.jit.save(torch.jit.script(model), ...) or torch.export.save(...), "
                "or pass the nn.Module object to model_packager.package"
            )
        if kind is None:
            raise ModelLoadError(
                f"{path.name} is not a TorchScript or torch.export archive (corrupted or truncated?); "
                "save it with torch.jit.save or torch.export.save"
            )
        torch: Any = require("torch", self.extra)
        try:
            with quiet():
                return (
                    torch.jit.load(str(path), map_location="cpu") if kind == "torchscript" else torch.export.load(path)
                )
        except Exception as exc:
            raise ModelLoadError(f"{path.name} could not be loaded by torch: {first_line(exc)}") from None

    def accepts(self, model: object) -> bool:
        """An nn.Module or ExportedProgram (torch is only looked up if already imported)."""
        torch: Any = sys.modules.get("torch")
        if torch is None:
            return False
        return isinstance(model, torch.nn.Module | torch.export.ExportedProgram)

    def convert(self, model: object, sample: SampleData, options: ConvertOptions) -> Conversion:
        """Export ``model`` to ONNX and run the original (eval mode, no_grad) on the sample."""
        torch: Any = require("torch", self.extra)
        require("onnxscript", self.extra)
        if isinstance(model, torch.export.ExportedProgram):
            return self._convert_program(model, sample, options, torch)
        module: Any = model
        notes: list[str] = []
        names, required = argument_names(module, torch)
        floats = [p.dtype for p in module.parameters() if p.is_floating_point()]
        float_dtype = floats[0] if floats else torch.float32
        names, args = sample_args(sample, names, required, float_dtype=float_dtype, torch=torch, notes=notes)
        training = bool(module.training)
        module.eval()
        try:
            output_names, expected = flat_outputs(run_original(module, args, names, torch), torch)
            job = _Job(module, args, names, output_names, options, torch, notes)
            scripted = isinstance(module, torch.jit.ScriptModule)
            onnx_model, converter, weights_dir = self._export_script(job) if scripted else self._export_module(job)
        finally:
            module.train(training)
        inputs = {name: arg.numpy() for name, arg in zip(names, args, strict=True)}
        outputs = dict(zip(output_names, expected, strict=True))
        result = self._result(onnx_model, converter, inputs, outputs, notes, weights_dir=weights_dir)
        sigmoid = any(isinstance(m, torch.nn.Sigmoid) for m in module.modules())
        apply_classifier_head(result, module, options.labels, ends_in_sigmoid=sigmoid)
        return result

    def _export_module(self, job: _Job) -> _Exported:
        torch = job.torch
        # A batch of 1 would pin axis 0 to 1 (torch specializes sizes 0 and 1): trace with the rows twice.
        traced = [torch.cat([arg, arg]) if arg.dim() and arg.shape[0] == 1 else arg for arg in job.args]
        try:
            with quiet():
                program = torch.export.export(job.model, tuple(traced), dynamic_shapes=job.shapes(), strict=False)
        except Exception as exc:
            raise ConversionError(
                f"torch.export could not capture the model: {first_line(exc)}. Make forward export-friendly "
                "(https://pytorch.org/docs/stable/export.html) or save it as TorchScript and package that file"
            ) from None
        job.notes.append("captured with torch.export (non-strict), converted by the torch.onnx dynamo exporter")
        return self._export_program(program, job.names, job.output_names, job.options, torch)

    def _export_program(
        self, program: Any, names: list[str], output_names: list[str], options: ConvertOptions, torch: Any
    ) -> _Exported:
        """The ONNX model in memory; over the external-data threshold, saved to a temporary folder instead
        (``model.onnx`` + ``model.onnx.data``, weights streamed from torch tensors) and returned as its
        graph, so the weights are never copied into a protobuf."""
        try:
            with quiet():
                exported = torch.onnx.export(
                    program,
                    (),
                    dynamo=True,
                    external_data=False,
                    verbose=False,
                    optimize=True,
                    input_names=names,
                    output_names=output_names,
                    opset_version=options.opset,
                )
        except Exception as exc:
            raise ConversionError(f"torch.onnx could not convert the program: {first_line(exc)}") from None
        tool = ToolInfo(name="torch.onnx.dynamo", version=torch.__version__)
        weights = sum(int(v.const_value.nbytes) for v in exported.model.graph.initializers.values() if v.const_value)
        if weights <= model_files.EXTERNAL_DATA_THRESHOLD:
            return exported.model_proto, tool, None
        folder = Path(tempfile.mkdtemp(prefix="maaskit-torch-"))
        try:
            exported.save(str(folder / MODEL_FILE), external_data=True)
            return onnx.load(str(folder / MODEL_FILE), load_external_data=False), tool, folder
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def _export_script(self, job: _Job) -> _Exported:
        torch, names, output_names, options = job.torch, job.names, job.output_names, job.options
        try:
            with quiet():
                program = torch.export.export(job.model, tuple(job.args), dynamic_shapes=job.shapes(), strict=False)
        except Exception as exc:
            job.notes.append(
                f"torch.export cannot capture this TorchScript module ({first_line(exc)[:100]}); "
                "converted by the TorchScript exporter (dynamo=False)"
            )
        else:
            job.notes.append(
                "TorchScript module captured with torch.export, converted by the torch.onnx dynamo exporter"
            )
            return self._export_program(program, names, output_names, options, torch)
        axes = options.dynamic_axes if options.dynamic_axes is not None else {n: (0,) for n in names}
        dynamic_axes: dict[str, dict[int, str]] = {
            name: {int(a): "batch" if a == 0 else f"{name}_dim{a}" for a in axes.get(name, ())} for name in names
        }
        if any(0 in axes.get(name, ()) for name in names):
            dynamic_axes.update({name: {0: "batch"} for name in output_names})
        # a file, not a BytesIO: over 2 GB the TorchScript exporter writes external data beside it
        with tempfile.TemporaryDirectory(prefix="maaskit-ts-") as tmp:
            target = Path(tmp) / "model.onnx"
            self._torchscript_export(job, target, dynamic_axes)
            exported = onnx.load(str(target))  # external data, if any, is pulled in
        return exported, ToolInfo(name="torch.onnx.torchscript", version=torch.__version__), None

    @staticmethod
    def _torchscript_export(job: _Job, target: Path, dynamic_axes: dict[str, dict[int, str]]) -> None:
        torch, names, output_names, options = job.torch, job.names, job.output_names, job.options
        try:
            with quiet():
                torch.onnx.export(
                    job.model,
                    tuple(job.args),
                    str(target),
                    dynamo=False,
                    verbose=False,
                    input_names=names,
                    output_names=output_names,
                    dynamic_axes=dynamic_axes,
                    opset_version=options.opset or 18,
                )
        except Exception as exc:
            raise ConversionError(f"torch.onnx (TorchScript exporter) failed: {first_line(exc)}") from None

    def _convert_program(self, program: Any, sample: SampleData, options: ConvertOptions, torch: Any) -> Conversion:
        specs = program_specs(program, torch)
        notes: list[str] = []
        generated = sample is None
        if generated:
            fixed = [s.name for s in specs if None in s.shape[1:] or s.dtype not in {"float16", "float32", "float64"}]
            if fixed:
                raise SampleMismatchError(
                    f"input(s) {fixed} have dynamic axes beyond the batch or integer values, so maaskit cannot "
                    "invent a sample; give one (a .npy/.npz file or arrays by input name)"
                )
            feed, note = generate_feed(specs, options.sample_rows)
            notes.append(note)
        else:
            feed = feed_for_specs(sample, specs)
        names = [spec.name for spec in specs]
        args = [torch.from_numpy(feed[name]) for name in names]
        output_names, expected = flat_outputs(run_original(program.module(), args, names, torch), torch)
        onnx_model, converter, weights_dir = self._export_program(program, names, output_names, options, torch)
        notes.append("torch.export program converted by the torch.onnx dynamo exporter (its dynamic axes kept)")
        outputs = dict(zip(output_names, expected, strict=True))
        result = self._result(onnx_model, converter, feed, outputs, notes, weights_dir=weights_dir)
        result.sample_generated = generated
        return result

    def _result(
        self,
        model: onnx.ModelProto,
        converter: ToolInfo,
        inputs: dict[str, np.ndarray],
        expected: dict[str, np.ndarray],
        notes: list[str],
        *,
        weights_dir: Path | None = None,
    ) -> Conversion:
        torch: Any = sys.modules["torch"]
        name_dims(model, list(inputs))
        graph_inputs = {value.name for value in model.graph.input}
        dropped = [name for name in inputs if name not in graph_inputs]
        if dropped:
            notes.append(f"input(s) {dropped} are unused by the model and were left out of the ONNX graph")
        return Conversion(
            model=model,
            framework=ToolInfo(name="torch", version=str(torch.__version__)),
            converter=converter,
            inputs={name: array for name, array in inputs.items() if name in graph_inputs},
            expected=expected,
            notes=notes,
            external_data_dir=weights_dir,
            external_data_temporary=weights_dir is not None,
        )
