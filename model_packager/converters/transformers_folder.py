"""What a local Hugging Face folder holds: which task it serves, how it pools, where its tokenizer is.

Reads only the JSON files that ``save_pretrained`` and sentence-transformers write (``config.json``,
``modules.json``, ``1_Pooling/config.json``, ``sentence_bert_config.json``, ``tokenizer_config.json``);
no framework is imported here, and nothing is ever downloaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from model_packager.converters.base import ModelLoadError, PackagingError, UnsupportedModelError

__all__ = [
    "TEXT_TASK_NAMES",
    "Pooling",
    "TaskDetectionError",
    "TextFolder",
    "TextTask",
    "detect_task",
    "is_text_folder",
    "pooling_from_config",
    "read_folder",
]

TextTask = Literal["feature-extraction", "text-classification", "token-classification"]
TEXT_TASK_NAMES: tuple[TextTask, ...] = ("feature-extraction", "text-classification", "token-classification")
Pooling = Literal["mean", "cls"]
_ST_MODULES = {"Transformer", "Pooling", "Normalize"}


class TaskDetectionError(PackagingError):
    """The folder does not say which task it serves (pass ``--task``)."""


@dataclass(frozen=True)
class TextFolder:
    """A local transformers / sentence-transformers folder, read but not loaded."""

    path: Path
    config: dict[str, Any]
    modules: list[dict[str, Any]] = field(default_factory=list)
    """modules.json entries (empty for a plain transformers folder)."""

    @property
    def is_sentence_transformer(self) -> bool:
        """Whether the folder is a sentence-transformers model (it has modules.json)."""
        return bool(self.modules)

    @property
    def architectures(self) -> list[str]:
        """``config.json`` architectures, e.g. ``["BertForSequenceClassification"]``."""
        return [str(name) for name in self.config.get("architectures") or []]

    def module_kinds(self) -> list[str]:
        """Class names of the sentence-transformers modules in order, e.g. ``["Transformer", "Pooling"]``."""
        return [str(entry.get("type", "")).rsplit(".", 1)[-1] for entry in self.modules]

    def module_path(self, kind: str) -> Path | None:
        """Folder of the first module of ``kind``."""
        for entry, name in zip(self.modules, self.module_kinds(), strict=True):
            if name == kind:
                return self.path / str(entry.get("path", ""))
        return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path.name} in {path.parent} is not readable JSON: {exc}") from None


def is_text_folder(path: Path) -> bool:
    """A directory with a transformers ``config.json`` (and no TensorFlow SavedModel)."""
    return path.is_dir() and (path / "config.json").is_file() and not (path / "saved_model.pb").exists()


def read_folder(path: Path) -> TextFolder:
    """Read ``config.json`` and ``modules.json``; refuse sentence-transformers modules maaskit cannot export."""
    config = _read_json(path / "config.json")
    if not isinstance(config, dict) or "model_type" not in config:
        raise ModelLoadError(f"{path}/config.json has no model_type: it is not a transformers config")
    modules: list[dict[str, Any]] = []
    if (path / "modules.json").is_file():
        raw = _read_json(path / "modules.json")
        if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
            raise ModelLoadError(f"{path}/modules.json must be a list of modules")
        modules = raw
    folder = TextFolder(path, config, modules)
    unsupported = [kind for kind in folder.module_kinds() if kind not in _ST_MODULES]
    if unsupported:
        raise UnsupportedModelError(
            f"{path.name}: sentence-transformers module(s) {unsupported} cannot be exported yet; maaskit exports "
            "Transformer + Pooling (mean or CLS) + an optional Normalize"
        )
    return folder


def detect_task(folder: TextFolder) -> tuple[TextTask, str]:
    """The task the folder serves, with the reason; TaskDetectionError when it is ambiguous."""
    if folder.is_sentence_transformer:
        return "feature-extraction", "modules.json (a sentence-transformers model)"
    heads = {name: name.rsplit("For", 1)[-1] for name in folder.architectures if "For" in name}
    if any(head == "SequenceClassification" for head in heads.values()):
        return "text-classification", f"architectures {folder.architectures}"
    if any(head == "TokenClassification" for head in heads.values()):
        return "token-classification", f"architectures {folder.architectures}"
    raise TaskDetectionError(
        f"cannot tell which task {folder.path.name} serves (architectures {folder.architectures or 'not given'}); "
        f"pass --task with one of {', '.join(TEXT_TASK_NAMES)}"
    )


def pooling_from_config(config: dict[str, Any], source: str) -> Pooling:
    """Mean or CLS pooling from a sentence-transformers Pooling config (v6 ``pooling_mode`` or older flags)."""
    mode = config.get("pooling_mode")
    if mode is None:
        flags = [key for key, value in config.items() if key.startswith("pooling_mode_") and value is True]
        names = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}
        if len(flags) != 1:
            raise UnsupportedModelError(f"{source} combines pooling modes {flags}; maaskit exports one: mean or CLS")
        mode = names.get(flags[0], flags[0].removeprefix("pooling_mode_"))
    modes = [mode] if isinstance(mode, str) else list(mode)
    if len(modes) != 1 or modes[0] not in {"mean", "cls"}:
        raise UnsupportedModelError(f"{source} pools with {modes}; maaskit exports mean or CLS pooling")
    if config.get("include_prompt") is False:
        raise UnsupportedModelError(f"{source} sets include_prompt false, which maaskit does not export")
    return "mean" if modes[0] == "mean" else "cls"
