"""The converter interface every framework plugs into.

A converter loads a saved model of its framework (``can_load``/``load``),
recognises an in-memory model (``accepts``, without importing the framework),
and converts it with the framework's own ONNX converter (``convert``). It also
runs the ORIGINAL model on the sample, so the parity gate can compare.

Heavy frameworks are imported inside methods only, through ``require``, which
turns a missing package into a MissingFrameworkError naming the extra to install.
"""

from __future__ import annotations

import importlib
import traceback
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import onnx

from bundle import Task, ToolInfo

__all__ = [
    "Conversion",
    "ConversionError",
    "ConvertOptions",
    "Converter",
    "MissingFrameworkError",
    "ModelLoadError",
    "PackagingError",
    "SampleData",
    "SampleMismatchError",
    "Task",
    "UnsupportedModelError",
    "require",
]

#: What a user may give as a sample: one array, arrays by input name, a DataFrame,
#: a tuple/list of arrays or tensors (positional inputs), or None (generate one).
SampleData = Any


class PackagingError(Exception):
    """Base of every packaging failure a user can fix (CLI exit code 2).

    The message is short (cause, estimator or layer, what to do next). ``detail`` keeps what the
    converter said in full (its exception, with traceback): ``maaskit package`` writes it to a log
    file named in the message, or to the terminal with ``--debug``; it is never the message.
    """

    def __init__(self, message: str, *, detail: BaseException | str | None = None) -> None:
        super().__init__(message)
        self.detail = detail

    def detail_text(self) -> str:
        """The converter's full output behind this error ('' when there is none)."""
        if isinstance(self.detail, BaseException):
            return "".join(traceback.format_exception(self.detail))
        return self.detail or ""


class MissingFrameworkError(PackagingError):
    """The framework or its converter is not installed."""


class UnsupportedModelError(PackagingError):
    """No converter handles this model or file."""


class SampleMismatchError(PackagingError):
    """The sample's columns, names, dtypes or shape do not fit the model."""


class ConversionError(PackagingError):
    """The framework's converter failed on this model."""


class ModelLoadError(PackagingError):
    """The model file is missing, corrupted or truncated."""


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise MissingFrameworkError with the pip command to fix it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingFrameworkError(
            f"{module} is not installed ({exc}); install it with: pip install 'maaskit[{extra}]'"
        ) from None


@dataclass(frozen=True)
class ConvertOptions:
    """Options shared by every converter."""

    opset: int | None = None
    """ONNX default-domain opset; None lets the converter pick a well-supported one."""
    sample_rows: int = 8
    """Rows to generate when no sample is given."""
    dynamic_axes: Mapping[str, Sequence[int]] | None = None
    """Axes of each input (by input name) to export as dynamic, e.g. ``{"input_ids": (0, 1)}``; axes not
    listed stay fixed. None lets the converter choose: every axis the model allows for torch.export
    (nn.Module), the batch axis (0) otherwise. Ignored where the format fixes them (ONNX files, .pt2)."""
    labels: Sequence[str | int] | None = None
    """Class labels of a PyTorch/Keras classifier's probability output (softmax/sigmoid head); None reads
    them from the model or uses 0..k-1."""
    task: str | None = None
    """The task to package for, where a model serves several (text models); None detects it."""
    tokenizer: Any = None
    """A text model's own tokenizer (a transformers tokenizer) when the model is given as an object."""
    truncatable_embeddings: bool = False
    """An embedding model trained so that its first k dimensions are an embedding too (Matryoshka)."""


@dataclass
class Conversion:
    """The result of converting one model: ONNX graph plus parity evidence."""

    model: onnx.ModelProto
    framework: ToolInfo
    converter: ToolInfo
    inputs: dict[str, np.ndarray]
    """Sample feed keyed by ONNX input name, in the dtypes the ONNX model takes."""
    expected: dict[str, np.ndarray]
    """The ORIGINAL model's outputs for ``inputs``, keyed by ONNX output name."""
    task: Task = "other"
    labels: list[str] | list[int] | None = None
    label_output: str | None = None
    probability_output: str | None = None
    sample_generated: bool = False
    notes: list[str] = field(default_factory=list)
    external_data_dir: Path | None = None
    """Where ``model``'s external tensors live when it references any (an ONNX file with ``.data`` beside it)."""
    external_data_temporary: bool = False
    """``external_data_dir`` is the converter's own temporary folder: the packager moves from it and removes it."""


class Converter(ABC):
    """One framework's loader and converter."""

    name: ClassVar[str]
    """Short name used by ``--framework`` (e.g. ``sklearn``)."""
    extra: ClassVar[str]
    """The pip extra that installs the framework and its converter."""
    handles: ClassVar[str]
    """Human description of what it converts, listed when nothing matches."""
    suffixes: ClassVar[tuple[str, ...]] = ()
    """File suffixes this converter can load."""

    def can_load(self, path: Path) -> bool:
        """Whether ``path`` looks like a saved model of this framework."""
        return path.is_file() and path.name.lower().endswith(self.suffixes)

    def load(self, path: Path) -> object:
        """Load a saved model from ``path`` (only called when ``can_load`` is true)."""
        raise UnsupportedModelError(f"{self.name} cannot load files")

    @abstractmethod
    def accepts(self, model: object) -> bool:
        """Whether this converter handles ``model`` (must not import the framework)."""

    @abstractmethod
    def convert(self, model: object, sample: SampleData, options: ConvertOptions) -> Conversion:
        """Convert ``model`` to ONNX and run the original on the (given or generated) sample."""


def type_module(model: object) -> str:
    """Top-level module of the model's class, e.g. ``sklearn`` or ``torch``."""
    return type(model).__module__.split(".", 1)[0]
