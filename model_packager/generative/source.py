"""A causal LM folder as ``save_pretrained`` writes it: detection, supported architectures, what it declares.

Nothing is downloaded: the folder must hold ``config.json``, the weights (safetensors), ``tokenizer.json``
and ``tokenizer_config.json`` (its ``chat_template``, or ``chat_template.jinja``), and may hold
``generation_config.json`` (the sampling defaults).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bundle.generation import GenerationDefaults
from model_packager.converters.base import PackagingError

__all__ = ["SUPPORTED_ARCHITECTURES", "CausalLMSource", "causal_lm_architecture", "read_source"]

#: Text decoders onnxruntime-genai 0.18's model builder exports (Llama and Qwen2 are tested here).
SUPPORTED_ARCHITECTURES: frozenset[str] = frozenset(
    {
        "LlamaForCausalLM",
        "MistralForCausalLM",
        "Qwen2ForCausalLM",
        "Qwen3ForCausalLM",
        "Phi3ForCausalLM",
        "PhiForCausalLM",
        "GemmaForCausalLM",
        "Gemma2ForCausalLM",
        "Gemma3ForCausalLM",
        "GraniteForCausalLM",
        "OlmoForCausalLM",
        "NemotronForCausalLM",
        "SmolLM3ForCausalLM",
    }
)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PackagingError(f"{path} cannot be read as JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PackagingError(f"{path} must hold a JSON object")
    return data


def causal_lm_architecture(path: Any) -> str | None:
    """The ``*ForCausalLM`` architecture a folder's config.json declares, or None (not a causal LM folder)."""
    if not isinstance(path, str | Path) or not (Path(path) / "config.json").is_file():
        return None
    try:
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    architectures = config.get("architectures") if isinstance(config, dict) else None
    if isinstance(architectures, list) and architectures and str(architectures[0]).endswith("ForCausalLM"):
        return str(architectures[0])
    return None


@dataclass(frozen=True)
class CausalLMSource:
    """What the folder declares: architecture, limits, special tokens, template and defaults."""

    path: Path
    architecture: str
    model_type: str
    context_length: int
    vocab_size: int
    eos_token_ids: list[int]
    bos_token_id: int | None
    chat_template: str | None
    template_tokens: dict[str, str] = field(default_factory=dict)
    defaults: GenerationDefaults = field(default_factory=GenerationDefaults)


def _ids(value: Any) -> list[int]:
    if value is None:
        return []
    return [int(item) for item in (value if isinstance(value, list) else [value])]


def _chat_template(path: Path, tokenizer_config: dict[str, Any]) -> str | None:
    jinja = path / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    template = tokenizer_config.get("chat_template")
    if isinstance(template, list):  # named templates: the default one
        template = next((item.get("template") for item in template if item.get("name") == "default"), None)
    return template if isinstance(template, str) else None


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _defaults(generation: dict[str, Any]) -> GenerationDefaults:
    sampling = bool(generation.get("do_sample", False))
    return GenerationDefaults(
        temperature=float(generation.get("temperature", 1.0)) if sampling else 0.0,
        top_p=float(generation.get("top_p", 1.0) or 1.0),
        top_k=int(generation.get("top_k", 0) or 0) if sampling else 0,
        repetition_penalty=float(generation.get("repetition_penalty", 1.0) or 1.0),
    )


def read_source(path: Path) -> CausalLMSource:
    """Read and check a causal LM folder; PackagingError says what is missing or why it is refused."""
    architecture = causal_lm_architecture(path)
    if architecture is None:
        raise PackagingError(f"{path} is not a causal LM folder: its config.json must name a *ForCausalLM architecture")
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise PackagingError(
            f"architecture {architecture} is not supported for text-generation: onnxruntime-genai's model builder "
            f"exports {', '.join(sorted(SUPPORTED_ARCHITECTURES))} (GPT-2 and other decoders have no exporter there)"
        )
    for required in ("tokenizer.json", "tokenizer_config.json"):
        if not (path / required).is_file():
            raise PackagingError(f"{path} has no {required}: save the tokenizer beside the model (save_pretrained)")
    if not any(path.glob("*.safetensors")):
        raise PackagingError(f"{path} has no .safetensors weights: save the model with save_pretrained")
    config = _read_json(path / "config.json")
    tokenizer_config = _read_json(path / "tokenizer_config.json")
    generation_path = path / "generation_config.json"
    generation = _read_json(generation_path) if generation_path.is_file() else {}
    eos = _ids(generation.get("eos_token_id")) or _ids(config.get("eos_token_id"))
    if not eos:
        raise PackagingError(f"{path}: neither config.json nor generation_config.json names eos_token_id")
    tokens = {key: text for key in ("bos_token", "eos_token", "pad_token", "unk_token")
              if (text := _token_text(tokenizer_config.get(key))) is not None}  # fmt: skip
    context = config.get("max_position_embeddings") or config.get("n_positions")
    if not isinstance(context, int) or context < 2:
        raise PackagingError(f"{path}: config.json has no max_position_embeddings (the context length)")
    return CausalLMSource(
        path=path,
        architecture=architecture,
        model_type=str(config.get("model_type", "")) or architecture,
        context_length=context,
        vocab_size=int(config["vocab_size"]),
        eos_token_ids=eos,
        bos_token_id=_ids(generation.get("bos_token_id", config.get("bos_token_id")))[0]
        if _ids(generation.get("bos_token_id", config.get("bos_token_id")))
        else None,
        chat_template=_chat_template(path, tokenizer_config),
        template_tokens=tokens,
        defaults=_defaults(generation),
    )
