"""The ordered converter registry: which converter handles a file or an object.

Entries name their converter as ``"module:Class"`` and are imported only when
first needed, so ``maaskit --help`` never imports a framework. Order matters:
the first converter that accepts a model wins, so specific converters (XGBoost,
LightGBM sklearn wrappers) come before the general scikit-learn one.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from model_packager.converters.base import Converter, ModelLoadError, UnsupportedModelError
from model_packager.loaders import PICKLE_SUFFIXES, is_pickle, load_pickle

__all__ = ["DEFAULT_CONVERTERS", "ConverterRegistry", "Resolved", "default_registry"]

#: (name, "module:Class", aliases) in detection order.
DEFAULT_CONVERTERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("xgboost", "model_packager.converters.xgb:XGBoostConverter", ("xgb",)),
    ("lightgbm", "model_packager.converters.lgbm:LightGBMConverter", ("lgbm", "lgb")),
    ("catboost", "model_packager.converters.catboost:CatBoostConverter", ("cb",)),
    ("sklearn", "model_packager.converters.sklearn:SklearnConverter", ("scikit-learn", "skl")),
    ("image", "model_packager.converters.image:ImageClassificationConverter", ("vision",)),
    ("transformers", "model_packager.converters.transformers_text:TransformersTextConverter", ("hf", "text")),
    ("torch", "model_packager.converters.pytorch:TorchConverter", ("pytorch",)),
    ("tensorflow", "model_packager.converters.tensorflow_keras:TensorFlowConverter", ("keras", "tf")),
    ("onnx", "model_packager.converters.onnx_file:OnnxConverter", ()),
)


@dataclass(frozen=True)
class Resolved:
    """A model ready to convert: its converter, the loaded object, and where it came from."""

    converter: Converter
    model: object
    source: str


class ConverterRegistry:
    """Ordered name -> converter map with an overwrite guard and lazy imports."""

    def __init__(self) -> None:
        self._targets: dict[str, str | Converter] = {}
        self._aliases: dict[str, str] = {}
        self._loaded: dict[str, Converter | None] = {}

    def register(
        self, name: str, target: str | Converter, *, aliases: tuple[str, ...] = (), overwrite: bool = False
    ) -> None:
        """Add a converter (an instance or ``"module:Class"``); refuse to replace one unless ``overwrite``."""
        if name in self._targets and not overwrite:
            raise ValueError(f"a converter named {name!r} is already registered; pass overwrite=True to replace it")
        self._targets[name] = target
        self._loaded.pop(name, None)
        for alias in aliases:
            self._aliases[alias] = name

    def names(self) -> list[str]:
        """Registered names in detection order (including ones whose module is not present)."""
        return list(self._targets)

    def _load(self, name: str) -> Converter | None:
        if name in self._loaded:
            return self._loaded[name]
        target = self._targets[name]
        converter: Converter | None
        if isinstance(target, Converter):
            converter = target
        else:
            module_name, _, class_name = target.partition(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name != module_name:
                    raise
                converter = None  # that converter module is not part of this installation
            else:
                converter = getattr(module, class_name)()
        self._loaded[name] = converter
        return converter

    def available(self) -> list[Converter]:
        """Converters whose module exists, in detection order."""
        return [converter for name in self._targets if (converter := self._load(name)) is not None]

    def supported(self) -> str:
        """One line per converter: what it handles (for error messages)."""
        return "; ".join(f"{c.name}: {c.handles}" for c in self.available())

    def get(self, name: str) -> Converter:
        """The converter called ``name`` (or an alias); UnsupportedModelError when unknown."""
        key = self._aliases.get(name.lower(), name.lower())
        converter = self._load(key) if key in self._targets else None
        if converter is None:
            names = ", ".join(c.name for c in self.available())
            raise UnsupportedModelError(f"unknown framework {name!r}; choose one of: {names}")
        return converter

    def for_object(self, model: object, framework: str | None = None) -> Converter:
        """The converter for an in-memory model (``framework`` forces one)."""
        if framework is not None:
            converter = self.get(framework)
            if not converter.accepts(model):
                raise UnsupportedModelError(
                    f"the {converter.name} converter does not handle a {_type_name(model)}; "
                    f"it handles {converter.handles}"
                )
            return converter
        for converter in self.available():
            if converter.accepts(model):
                return converter
        raise UnsupportedModelError(f"no converter handles a {_type_name(model)}. Supported: {self.supported()}")

    def resolve(self, model_or_path: object, framework: str | None = None) -> Resolved:
        """Load (if a path) and pick the converter for a model file, directory or object."""
        if not isinstance(model_or_path, str | Path):
            converter = self.for_object(model_or_path, framework)
            return Resolved(converter, model_or_path, f"python object {_type_name(model_or_path)}")
        path = Path(model_or_path)
        if not path.exists():
            raise ModelLoadError(f"model {path} does not exist; give the path of a saved model file or directory")
        candidates = [self.get(framework)] if framework is not None else self.available()
        if not path.name.lower().endswith(PICKLE_SUFFIXES):
            for converter in candidates:  # native formats first: a legacy torch .pt is also a pickle
                if converter.can_load(path):
                    return Resolved(converter, converter.load(path), path.name)
        if is_pickle(path):
            loaded = load_pickle(path)
            return Resolved(self.for_object(loaded, framework), loaded, path.name)
        if framework is not None:  # forced: let the converter try whatever the suffix says
            return Resolved(candidates[0], candidates[0].load(path), path.name)
        kind = "directory" if path.is_dir() else f"file kind {path.suffix or '(no suffix)'!r}"
        raise UnsupportedModelError(f"cannot tell what model {path.name} is ({kind}). Supported: {self.supported()}")


def _type_name(model: object) -> str:
    kind = type(model)
    return f"{kind.__module__}.{kind.__qualname__}"


def default_registry() -> ConverterRegistry:
    """A registry holding maaskit's built-in converters."""
    registry = ConverterRegistry()
    for name, target, aliases in DEFAULT_CONVERTERS:
        registry.register(name, target, aliases=aliases)
    return registry
