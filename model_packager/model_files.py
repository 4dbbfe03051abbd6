"""model.onnx on disk: weights inline, or as ONNX external data (``model.onnx.data``) for large models.

ONNX is a protobuf, and a protobuf cannot serialize past 2 GB. Every phase after conversion (checker,
parity, optimizations, the writer) therefore works on a model FILE, never on its bytes: a model whose
protobuf would pass :data:`EXTERNAL_DATA_THRESHOLD` (512 MiB, for memory's sake, well before protobuf's
2 GB) is written with all its weights in one ``model.onnx.data`` beside ``model.onnx``, which
onnxruntime resolves relative to the model's path. Smaller models keep their weights inline.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import EncodeError

from bundle import MODEL_DATA_FILE, MODEL_FILE
from model_packager.converters.base import ConversionError

__all__ = [
    "EXTERNAL_DATA_THRESHOLD",
    "over_threshold",
    "StagedModel",
    "check_staged",
    "stage_model",
    "staged_in",
    "uses_external_data",
]

#: A model whose protobuf would be larger than this keeps its weights as external data. protobuf stops
#: at 2 GiB, but an inline model costs far more memory well before that: the weights are held once by
#: the framework, once in the protobuf and once more in its serialized bytes (measured: 4.4x the weights
#: at 1 GB, against 2.2x with external data, which is streamed tensor by tensor; onnxruntime also loads
#: external weights without parsing them out of one huge message). Read at call time: tests lower it.
EXTERNAL_DATA_THRESHOLD = 512 * 1024**2
#: Tensors smaller than this stay inline even in an external-data model (shapes, scalars, small biases).
_INLINE_BELOW = 1024


@dataclass(frozen=True)
class StagedModel:
    """A model written to ``path`` (``model.onnx``), with its external weights file when it has one."""

    path: Path
    data: Path | None = None

    @property
    def data_files(self) -> dict[str, Path]:
        """Bundle name -> path of the files beside model.onnx (``{"model.onnx.data": ...}`` or empty)."""
        return {MODEL_DATA_FILE: self.data} if self.data is not None else {}

    @property
    def size(self) -> int:
        """Bytes of model.onnx and its external data together."""
        return self.path.stat().st_size + (self.data.stat().st_size if self.data is not None else 0)

    def graph(self) -> onnx.ModelProto:
        """The model without its external weights (signature, opsets, names): cheap for any size."""
        return onnx.load(str(self.path), load_external_data=False)


def uses_external_data(model: onnx.ModelProto) -> bool:
    """Whether any initializer of ``model`` keeps its bytes in an external file."""
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)


def over_threshold(model: onnx.ModelProto) -> bool:
    """Whether ``model``'s protobuf is over EXTERNAL_DATA_THRESHOLD (protobuf cannot even size one past 2 GB)."""
    try:
        return bool(model.ByteSize() > EXTERNAL_DATA_THRESHOLD)
    except EncodeError:
        return True


def _locations(model: onnx.ModelProto) -> set[str]:
    return {
        str(entry.value)
        for tensor in model.graph.initializer
        if tensor.data_location == onnx.TensorProto.EXTERNAL
        for entry in tensor.external_data
        if entry.key == "location"
    }


def stage_model(
    model: onnx.ModelProto,
    directory: Path,
    *,
    external_data_dir: Path | None = None,
    move_external_data: bool = False,
) -> StagedModel:
    """Write ``model`` as ``directory/model.onnx``, with ``model.onnx.data`` when it is over the threshold.

    ``external_data_dir``: where the model's external tensors live now (an ONNX file packaged from
    disk). Over the threshold, a ``model.onnx.data`` there is taken as it is (moved when
    ``move_external_data``, else copied) without loading the weights; other layouts are loaded and
    rewritten into the one ``model.onnx.data``. Writing external data strips the weights from
    ``model`` in place: use :meth:`StagedModel.graph` afterwards.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / MODEL_FILE
    if external_data_dir is not None and uses_external_data(model):
        source = external_data_dir / MODEL_DATA_FILE
        if (
            _locations(model) == {MODEL_DATA_FILE}
            and source.is_file()
            and source.stat().st_size > EXTERNAL_DATA_THRESHOLD
        ):
            # already laid out as the bundle wants it: take the data file as it is, never load the weights
            (shutil.move if move_external_data else shutil.copyfile)(source, directory / MODEL_DATA_FILE)
            path.write_bytes(model.SerializeToString())
            return StagedModel(path, directory / MODEL_DATA_FILE)
        onnx.load_external_data_for_model(model, str(external_data_dir))
    if not over_threshold(model):
        path.write_bytes(model.SerializeToString())
        return StagedModel(path)
    data = directory / MODEL_DATA_FILE
    data.unlink(missing_ok=True)  # save_model appends to an existing data file
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=MODEL_DATA_FILE,
        size_threshold=_INLINE_BELOW,
    )
    return StagedModel(path, data)


def staged_in(directory: Path) -> StagedModel:
    """The model a tool (optimizer, quantizer, fp16) wrote as ``directory/model.onnx`` (+ ``.data``)."""
    data = directory / MODEL_DATA_FILE
    return StagedModel(directory / MODEL_FILE, data if data.is_file() else None)


def check_staged(staged: StagedModel) -> None:
    """onnx.checker on the file (the path form handles external data and models over 2 GB)."""
    try:
        onnx.checker.check_model(str(staged.path))
    except (onnx.checker.ValidationError, ValueError) as exc:
        raise ConversionError(f"the converted model fails onnx.checker: {exc}") from None
