"""TensorFlow/Keras: Keras models (``.keras`` files or objects, Sequential included) and SavedModels, via tf2onnx.

Both are converted through ``tf2onnx.convert.from_function`` on a ``tf.function`` with an
explicit input signature: the Keras model's declared inputs (batch axis dynamic) or the
SavedModel's ``serving_default`` signature. This sidesteps ``tf2onnx.convert.from_keras``,
which fails on Keras 3 Sequential models. TensorFlow is imported only when needed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from bundle import TensorSpec, ToolInfo
from model_packager.converters.base import (
    Conversion,
    ConversionError,
    Converter,
    ConvertOptions,
    ModelLoadError,
    SampleData,
    SampleMismatchError,
    require,
)
from model_packager.converters.common import rename_values
from model_packager.converters.heads import apply_classifier_head
from model_packager.converters.pytorch_io import first_line, name_dims
from model_packager.samples import feed_for_specs, generate_feed

__all__ = ["TensorFlowConverter", "rename_values"]

#: tf2onnx 1.17 supports opsets up to 18; 17 is well covered by its op handlers and by onnxruntime.
DEFAULT_OPSET = 17
SIGNATURE = "serving_default"


def _is_keras_archive(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return "config.json" in names and "metadata.json" in names


def _tensorflow() -> Any:
    """Import TensorFlow quietly (its C++ INFO logs go unless the user asked for them)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return require("tensorflow", "tensorflow")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in ("tf2onnx", "tensorflow", "absl")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _dtype_name(dtype: Any) -> str:
    name = str(getattr(dtype, "name", dtype))
    if name not in {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool", "string"}:
        raise ConversionError(f"input dtype {name} is not supported by maaskit's signature; cast it in the model")
    return name


class TensorFlowConverter(Converter):
    """Keras 3 models (.keras files or objects) and TensorFlow SavedModel directories."""

    name = "tensorflow"
    extra = "tensorflow"
    handles = "Keras models (.keras files or objects, Sequential included) and TensorFlow SavedModel directories"
    suffixes = (".keras",)

    def can_load(self, path: Path) -> bool:
        """A SavedModel directory (holds saved_model.pb) or a .keras archive (by suffix or content)."""
        if path.is_dir():
            return (path / "saved_model.pb").is_file()
        return path.is_file() and (path.name.lower().endswith(self.suffixes) or _is_keras_archive(path))

    def load(self, path: Path) -> object:
        """Load a .keras file with keras, or a SavedModel with tf.saved_model.load."""
        if path.is_file() and not _is_keras_archive(path):
            raise ModelLoadError(
                f"{path.name} is not a Keras archive (corrupted or truncated?); save it with model.save"
            )
        tf = _tensorflow()
        try:
            with _quiet():
                if path.is_dir():
                    return tf.saved_model.load(str(path))
                keras: Any = require("keras", self.extra)
                return keras.models.load_model(path, compile=False)
        except Exception as exc:
            raise ModelLoadError(f"{path.name} could not be loaded by TensorFlow: {first_line(exc)}") from None

    def accepts(self, model: object) -> bool:
        """A keras.Model, or a loaded SavedModel with a serving_default signature (no import)."""
        keras: Any = sys.modules.get("keras")
        if keras is not None and isinstance(model, keras.Model):
            return True
        signatures = getattr(model, "signatures", None) if "tensorflow" in sys.modules else None
        return type(model).__module__.startswith("tensorflow") and signatures is not None and SIGNATURE in signatures

    def convert(self, model: object, sample: SampleData, options: ConvertOptions) -> Conversion:
        """Convert with tf2onnx and run the original model (inference mode) on the sample."""
        tf = _tensorflow()
        tf2onnx: Any = require("tf2onnx", self.extra)
        keras: Any = sys.modules.get("keras")
        is_keras = keras is not None and isinstance(model, keras.Model)
        specs = self._keras_specs(model, sample) if is_keras else self._signature_specs(model)
        feed, notes, generated = self._feed(specs, sample, options)
        if options.dynamic_axes is not None:
            notes.append("dynamic_axes ignored: a TensorFlow model's signature fixes its dynamic axes")
        tf_specs = [tf.TensorSpec([d for d in s.shape], getattr(tf, s.dtype), name=s.name) for s in specs]
        names = [spec.name for spec in specs]
        runner: Any = model
        if is_keras:

            def call(*args: Any) -> list[Any]:
                result = runner(list(args) if len(args) > 1 else args[0], training=False)
                return list(result.values()) if isinstance(result, Mapping) else list(tf.nest.flatten(result))

            output_names = self._keras_output_names(runner)
        else:
            signature = runner.signatures[SIGNATURE]
            output_names = sorted(signature.structured_outputs)

            def call(*args: Any) -> list[Any]:
                result = signature(**dict(zip(names, args, strict=True)))
                return [result[name] for name in output_names]

        function = tf.function(call, input_signature=tf_specs)
        try:
            with _quiet():
                values = function(*[tf.constant(feed[name]) for name in names])
        except Exception as exc:
            shapes = ", ".join(f"{n} {list(a.shape)} {a.dtype}" for n, a in feed.items())
            raise SampleMismatchError(f"the model failed on the sample ({shapes}): {first_line(exc)}") from None
        if len(output_names) != len(values):
            output_names = ["output"] if len(values) == 1 else [f"output_{i}" for i in range(len(values))]
        expected = {name: np.asarray(value.numpy()) for name, value in zip(output_names, values, strict=True)}
        try:
            with _quiet():
                onnx_model, _ = tf2onnx.convert.from_function(
                    function, input_signature=tf_specs, opset=options.opset or DEFAULT_OPSET
                )
        except Exception as exc:
            raise ConversionError(f"tf2onnx could not convert the model: {first_line(exc)}") from None
        self._rename(onnx_model, names, output_names)
        name_dims(onnx_model, names)
        notes.append("converted by tf2onnx.convert.from_function on the model's input signature")
        conversion = Conversion(
            model=onnx_model,
            framework=ToolInfo(name="tensorflow", version=str(tf.__version__)),
            converter=ToolInfo(name="tf2onnx", version=str(tf2onnx.__version__)),
            inputs=feed,
            expected=expected,
            sample_generated=generated,
            notes=notes,
        )
        if is_keras:
            last = getattr(getattr(model, "layers", [None])[-1], "activation", None)
            sigmoid = getattr(last, "__name__", "") == "sigmoid"
            apply_classifier_head(conversion, model, options.labels, ends_in_sigmoid=sigmoid)
        return conversion

    def _keras_specs(self, model: Any, sample: SampleData) -> list[TensorSpec]:
        try:
            inputs = list(model.inputs)
        except (AttributeError, ValueError):
            inputs = []
        if not inputs and getattr(model, "built", False) and sample is not None:
            return self._sample_specs(sample)
        if not inputs:
            raise SampleMismatchError(
                "the Keras model has no defined inputs (an unbuilt Sequential?): start it with keras.Input(shape=...)"
                " or call it once on data before packaging"
            )
        return [
            TensorSpec(name=i.name, dtype=_dtype_name(i.dtype), shape=[None, *list(i.shape)[1:]])  # type: ignore[arg-type]
            for i in inputs
        ]

    def _sample_specs(self, sample: SampleData) -> list[TensorSpec]:
        """A subclassed model declares no inputs: take names, dtypes and shapes (batch dynamic) from the sample."""
        arrays = dict(sample) if isinstance(sample, Mapping) else {"input": sample}
        specs = []
        for name, value in arrays.items():
            array = np.asarray(value)
            dtype = "float32" if array.dtype == np.float64 else _dtype_name(array.dtype)
            specs.append(TensorSpec(name=str(name), dtype=dtype, shape=[None, *array.shape[1:]]))  # type: ignore[arg-type]
        return specs

    def _keras_output_names(self, model: Any) -> list[str]:
        names = [str(name) for name in getattr(model, "output_names", None) or []]
        if len(names) <= 1:
            return ["output"]
        return names if len(set(names)) == len(names) else [f"output_{i}" for i in range(len(names))]

    def _signature_specs(self, model: Any) -> list[TensorSpec]:
        args, kwargs = model.signatures[SIGNATURE].structured_input_signature
        if args:
            raise ConversionError("the SavedModel's serving_default takes positional inputs; export named inputs")
        return [
            TensorSpec(name=name, dtype=_dtype_name(spec.dtype), shape=list(spec.shape.as_list()))  # type: ignore[arg-type]
            for name, spec in kwargs.items()
        ]

    def _feed(
        self, specs: list[TensorSpec], sample: SampleData, options: ConvertOptions
    ) -> tuple[dict[str, np.ndarray], list[str], bool]:
        if sample is not None:
            return feed_for_specs(sample, specs), [], False
        blocked = [s.name for s in specs if None in s.shape[1:] or s.dtype not in {"float16", "float32", "float64"}]
        if blocked:
            raise SampleMismatchError(
                f"input(s) {blocked} have dynamic axes beyond the batch or integer values, so maaskit cannot "
                "invent a sample; give one (a .npy/.npz file or arrays by input name)"
            )
        feed, note = generate_feed(specs, options.sample_rows)
        return feed, [note], True

    def _rename(self, model: onnx.ModelProto, names: list[str], output_names: list[str]) -> None:
        mapping: dict[str, str] = {}
        for position, value in enumerate(model.graph.input[: len(names)]):
            base = value.name.rsplit(":", 1)[0]  # tf2onnx may keep TensorFlow's ":0" suffix
            mapping[value.name] = base if base in names else names[position]
        if len(model.graph.output) != len(output_names):
            raise ConversionError(f"tf2onnx produced {len(model.graph.output)} outputs, expected {len(output_names)}")
        mapping.update({value.name: name for value, name in zip(model.graph.output, output_names, strict=True)})
        rename_values(model, {old: new for old, new in mapping.items() if old != new})
