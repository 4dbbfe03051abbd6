"""The entry from ``model_packager.api.package``: detection, option checks, a model object saved to a folder."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bundle.generation import GENERATION_TASK
from model_packager.generative.source import causal_lm_architecture
from model_packager.job import InvalidRequestError, PackageResult

__all__ = ["package_text_generation", "wants_text_generation"]


def _is_causal_lm_object(model: Any) -> bool:
    architectures = getattr(getattr(model, "config", None), "architectures", None) or []
    return hasattr(model, "save_pretrained") and any(str(a).endswith("ForCausalLM") for a in architectures)


def wants_text_generation(model_or_path: Any, task: str | None) -> bool:
    """True for ``task="text-generation"``, or no task and a causal LM (folder or transformers object)."""
    if task is not None:
        return task == GENERATION_TASK
    return causal_lm_architecture(model_or_path) is not None or _is_causal_lm_object(model_or_path)


def package_text_generation(
    model_or_path: Any,
    *,
    name: str,
    version: str,
    out: Path | str,
    sample: str | Path | Sequence[Any] | None = None,
    quantize: str | None = None,
    precision: str = "fp32",
    optimize: str = "none",
    tokenizer: Any = None,
    metadata: Mapping[str, str] | None = None,
    force: bool = False,
    on_step: Callable[[str], None] | None = None,
    max_new_tokens: int | None = None,
) -> PackageResult:
    """Package a causal LM folder, or a transformers model object with its ``tokenizer``, for text-generation."""
    from bundle.version import maaskit_version
    from bundle.writer import bundle_paths
    from model_packager.api import _check_target, _validate
    from model_packager.failure_log import log_path
    from model_packager.generative.package import DEFAULT_MAX_NEW_TOKENS, package_generative, precision_of
    from model_packager.provenance import created_time, detect_provenance

    chosen = precision_of(quantize, precision)
    if optimize != "none":
        raise InvalidRequestError("text-generation bundles take the model builder's graph as it is: drop --optimize")
    _validate(name, version, metadata, "none", None, precision="fp32")
    out = Path(out)
    _check_target(out, bundle_paths(out, name, version), force)
    common: dict[str, Any] = {"name": name, "version": version, "out": out, "precision": chosen, "sample": sample,
                              "max_new_tokens": max_new_tokens or DEFAULT_MAX_NEW_TOKENS, "metadata": metadata,
                              "force": force, "log": log_path(name, version), "on_step": on_step}  # fmt: skip
    if isinstance(model_or_path, str | Path):
        path = Path(model_or_path)
        if not path.is_dir():
            raise InvalidRequestError(f"{path} is not a folder: text-generation packages a save_pretrained folder")
        if tokenizer is not None:
            raise InvalidRequestError("a folder carries its own tokenizer: drop tokenizer=")
        source = str(path)
        return package_generative(path, provenance=detect_provenance(maaskit_version(), source),
                                  created=created_time(path), **common)  # fmt: skip
    if not _is_causal_lm_object(model_or_path) or tokenizer is None:
        raise InvalidRequestError(
            "text-generation takes a causal LM folder, or a transformers *ForCausalLM model with tokenizer="
        )
    with tempfile.TemporaryDirectory(prefix="maaskit-causal-lm-") as tmp:
        model_or_path.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        source = type(model_or_path).__name__
        return package_generative(Path(tmp), provenance=detect_provenance(maaskit_version(), source),
                                  created=created_time(None), **common)  # fmt: skip
