"""Load a text model (a local folder or in-memory objects) with everything the packager needs from it.

The model is loaded on CPU with eager attention (so onnxruntime's transformer optimizer can fuse the
attention of the TorchScript export), from local files only. The ORIGINAL model's tokenizer and
outputs are kept as the parity reference: transformers on torch, or sentence-transformers itself.
"""

from __future__ import annotations

import inspect
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model_packager.converters.base import ConversionError, ModelLoadError, PackagingError, require
from model_packager.converters.pytorch_io import first_line, quiet
from model_packager.converters.transformers_folder import (
    TEXT_TASK_NAMES,
    Pooling,
    TextFolder,
    TextTask,
    detect_task,
    pooling_from_config,
)

__all__ = ["TextSource", "load_text_source"]

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_OPTIONAL_TOKENIZER_FILES = ("tokenizer_config.json", "special_tokens_map.json")
#: Models whose position ids start after the padding index (max_position_embeddings - 2 usable).
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert", "longformer", "mpnet", "data2vec-text", "xlm-roberta-xl"}
_UNSET_LENGTH = 1_000_000


@dataclass
class TextSource:
    """A loaded text model: what to export, and the original to compare against."""

    task: TextTask
    model: Any
    """The transformers model (torch, eval, eager attention)."""
    tokenizer: Any
    """The model's own transformers tokenizer."""
    max_length: int
    vocab_size: int
    pad_token_id: int
    input_names: list[str]
    tokenizer_files: dict[str, bytes]
    sentence_transformer: Any = None
    pooling: Pooling | None = None
    normalize: bool = False
    labels: list[str] | None = None
    multi_label: bool = False
    source: str = "python objects"
    notes: list[str] = field(default_factory=list)

    def reference_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids the ORIGINAL pipeline gives each text (padding removed)."""
        if self.sentence_transformer is not None:
            features = _st_features(self.sentence_transformer, texts)
        else:
            features = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length)
        ids, mask = np.asarray(features["input_ids"]), np.asarray(features["attention_mask"])
        return [row[m.astype(bool)].tolist() for row, m in zip(ids, mask, strict=True)]

    def reference_outputs(self, texts: list[str], head: Any) -> dict[str, np.ndarray]:
        """The ORIGINAL model's outputs on ``texts`` (sentence-transformers ``encode`` for its models)."""
        torch: Any = sys.modules["torch"]
        with torch.no_grad(), quiet():
            if self.sentence_transformer is not None:
                embeddings = self.sentence_transformer.encode(
                    texts, batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False
                )
                return {"sentence_embedding": np.asarray(embeddings, dtype=np.float32)}
            batch = self.tokenizer(
                texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            outputs = head(*[batch[name] for name in self.input_names])
        values = outputs if isinstance(outputs, tuple) else (outputs,)
        return {name: value.numpy() for name, value in zip(head.output_names, values, strict=True)}


def _st_features(model: Any, texts: list[str]) -> Any:
    with quiet():
        return model.preprocess(texts) if hasattr(model, "preprocess") else model.tokenize(texts)


def _eager(model: Any) -> Any:
    model.eval()
    if hasattr(model, "set_attn_implementation"):
        try:
            model.set_attn_implementation("eager")
        except Exception as exc:
            raise ConversionError(f"cannot switch the model to eager attention: {first_line(exc)}") from None
    else:
        model.config._attn_implementation = "eager"
    return model


def _max_length(tokenizer: Any, config: Any, declared: int | None) -> tuple[int, str]:
    positions = getattr(config, "max_position_embeddings", None)
    if positions is not None and getattr(config, "model_type", "") in _OFFSET_POSITIONS:
        positions -= 2
    candidates: list[tuple[int, str]] = []
    if declared:
        candidates.append((int(declared), "sentence-transformers max_seq_length"))
    model_max = getattr(tokenizer, "model_max_length", None)
    if model_max is not None and model_max < _UNSET_LENGTH:
        candidates.append((int(model_max), "tokenizer model_max_length"))
    if positions:
        candidates.append((int(positions), "config max_position_embeddings"))
    if not candidates:
        raise PackagingError(
            "the model's maximum sequence length is unknown: set model_max_length in tokenizer_config.json"
        )
    return min(candidates)


def _tokenizer_json(tokenizer: Any, folder: TextFolder | None, notes: list[str]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    if folder is not None and (folder.path / "tokenizer.json").is_file():
        files["tokenizer.json"] = (folder.path / "tokenizer.json").read_bytes()
        for name in _OPTIONAL_TOKENIZER_FILES:
            if (folder.path / name).is_file():
                files[name] = (folder.path / name).read_bytes()
        return files
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise PackagingError(
            f"the tokenizer {type(tokenizer).__name__} is not backed by the Rust tokenizers library; "
            "load it with AutoTokenizer.from_pretrained(..., use_fast=True) and save it with save_pretrained"
        )
    files["tokenizer.json"] = backend.to_str().encode()
    where = f"{folder.path.name} has no tokenizer.json" if folder else "in-memory tokenizer"
    notes.append(f"{where}: tokenizer.json written from the loaded {type(tokenizer).__name__}")
    return files


def _input_names(model: Any, tokenizer: Any) -> list[str]:
    accepted = inspect.signature(model.forward).parameters
    produced = set(getattr(tokenizer, "model_input_names", _INPUTS)) | {"input_ids", "attention_mask"}
    return [name for name in _INPUTS if name in accepted and name in produced]


def _labels(config: Any) -> list[str]:
    id2label = getattr(config, "id2label", None) or {}
    count = int(getattr(config, "num_labels", len(id2label)))
    return [str(id2label.get(index, id2label.get(str(index), f"LABEL_{index}"))) for index in range(count)]


def _sentence_transformer_parts(model: Any) -> tuple[Any, Pooling, bool]:
    kinds = [type(module).__name__ for module in model]
    unsupported = [kind for kind in kinds if kind not in {"Transformer", "Pooling", "Normalize"}]
    if unsupported or kinds[:2] != ["Transformer", "Pooling"]:
        raise PackagingError(
            f"sentence-transformers modules {kinds}: maaskit exports Transformer + Pooling (+ Normalize); "
            f"{unsupported or kinds} cannot be exported yet"
        )
    pooling = pooling_from_config(model[1].get_config_dict(), "the Pooling module")
    return model[0].auto_model, pooling, "Normalize" in kinds


def _load_folder(folder: TextFolder, task: str | None, notes: list[str]) -> tuple[Any, Any, Any, TextTask]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    chosen: TextTask
    if task is None:
        chosen, reason = detect_task(folder)
        notes.append(f"task {chosen} (detected from {reason}; pass --task to choose another)")
    else:
        chosen = task  # type: ignore[assignment]  # validated by the caller
    try:
        with quiet():
            if folder.is_sentence_transformer and chosen == "feature-extraction":
                st: Any = require("sentence_transformers", "text")
                model = st.SentenceTransformer(
                    str(folder.path),
                    device="cpu",
                    local_files_only=True,
                    model_kwargs={"attn_implementation": "eager"},
                )
                return model, model.tokenizer, model, chosen
            transformers: Any = require("transformers", "text")
            auto = {
                "feature-extraction": transformers.AutoModel,
                "text-classification": transformers.AutoModelForSequenceClassification,
                "token-classification": transformers.AutoModelForTokenClassification,
            }[chosen]
            model = auto.from_pretrained(str(folder.path), local_files_only=True, attn_implementation="eager")
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder.path), local_files_only=True)
    except PackagingError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"{folder.path.name} could not be loaded by transformers: {first_line(exc)}") from None
    return model, tokenizer, None, chosen


def load_text_source(model: Any, tokenizer: Any, task: str | None) -> TextSource:
    """Load ``model`` (a TextFolder, a transformers model or a SentenceTransformer) for packaging."""
    if task is not None and task not in TEXT_TASK_NAMES:
        raise PackagingError(f"task {task!r} is not a text task; choose one of {', '.join(TEXT_TASK_NAMES)}")
    require("torch", "text")
    notes: list[str] = []
    folder = model if isinstance(model, TextFolder) else None
    sentence_transformer = None
    if folder is not None:
        model, loaded_tokenizer, sentence_transformer, chosen = _load_folder(folder, task, notes)
        tokenizer = tokenizer or loaded_tokenizer
        source = folder.path.name
    else:
        is_st = type(model).__name__ == "SentenceTransformer"
        sentence_transformer = model if is_st else None
        tokenizer = tokenizer or (model.tokenizer if is_st else None)
        if tokenizer is None:
            raise PackagingError("a transformers model needs its tokenizer: package(model, tokenizer=tokenizer, ...)")
        chosen = task or ("feature-extraction" if is_st else _task_of_object(model))
        source = f"python object {type(model).__name__}"
    pooling: Pooling | None = None
    normalize = False
    if sentence_transformer is not None:
        hf_model, pooling, normalize = _sentence_transformer_parts(sentence_transformer)
        declared = int(sentence_transformer.max_seq_length or 0) or None
    else:
        hf_model, declared = model, None
        if chosen == "feature-extraction":
            pooling = "mean"
            notes.append("no sentence-transformers Pooling module: mean pooling over the last hidden state, no L2")
    hf_model = _eager(hf_model)
    config = hf_model.config
    max_length, length_source = _max_length(tokenizer, config, declared)
    notes.append(f"max_length {max_length} (from the {length_source})")
    vocab_size = int(config.vocab_size)
    if len(tokenizer) > vocab_size:
        raise PackagingError(
            f"the tokenizer has {len(tokenizer)} tokens but the model embeds only vocab_size {vocab_size}: "
            "it is not this model's tokenizer (or resize_token_embeddings was not saved)"
        )
    if tokenizer.pad_token_id is None:
        raise PackagingError("the tokenizer has no pad token: set tokenizer.pad_token and save it again")
    classifier = chosen != "feature-extraction"
    return TextSource(
        task=chosen,
        model=hf_model,
        tokenizer=tokenizer,
        max_length=max_length,
        vocab_size=vocab_size,
        pad_token_id=int(tokenizer.pad_token_id),
        input_names=_input_names(hf_model, tokenizer),
        tokenizer_files=_tokenizer_json(tokenizer, folder, notes),
        sentence_transformer=sentence_transformer,
        pooling=pooling,
        normalize=normalize,
        labels=_labels(config) if classifier else None,
        multi_label=classifier and getattr(config, "problem_type", None) == "multi_label_classification",
        source=source,
        notes=notes,
    )


def _task_of_object(model: Any) -> TextTask:
    name = type(model).__name__
    if name.endswith("ForSequenceClassification"):
        return "text-classification"
    if name.endswith("ForTokenClassification"):
        return "token-classification"
    if name.endswith("Model"):
        return "feature-extraction"
    raise PackagingError(f"cannot tell which task a {name} serves; pass task= one of {', '.join(TEXT_TASK_NAMES)}")
