"""Tiny causal language models for tests, built from configs with random weights (nothing is downloaded).

``save_llama(dir)`` writes a Llama-style folder (Llama 3 chat template, ``<|eot_id|>`` end of turn) and
``save_qwen2(dir)`` a Qwen2-style one (ChatML), each as ``save_pretrained`` writes it: ``config.json``,
``model.safetensors``, ``generation_config.json``, ``tokenizer.json`` and ``tokenizer_config.json`` with
its chat template. The tokenizer is a real byte-level BPE (``tokenizers`` library) trained on a small
corpus, so any text round-trips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["CORPUS", "LLAMA_TEMPLATE", "QWEN_TEMPLATE", "save_llama", "save_qwen2", "tokenizer"]

CORPUS = [
    "the cat sat on the mat and the dog sat on the log",
    "once upon a time there was a small robot who loved to read books",
    "hello, how are you today? i am fine, thank you!",
    "the quick brown fox jumps over the lazy dog 0123456789",
    "paris is the capital of france; berlin is the capital of germany.",
    "write a short story about a dragon who learns to bake bread",
    "You are a helpful assistant. Answer the question briefly.",
]

QWEN_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

LLAMA_TEMPLATE = (
    "{{- bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- set messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set system_message = '' %}\n"
    "{%- endif %}\n"
    "{%- if system_message %}\n"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' + system_message + '<|eot_id|>' }}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if message['role'] not in ['user', 'assistant'] %}\n"
    "        {{- raise_exception('Only user and assistant roles are supported') }}\n"
    "    {%- endif %}\n"
    "    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim"
    " + '<|eot_id|>' }}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "{%- endif %}\n"
)

_QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_LLAMA_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]


def tokenizer(specials: list[str], vocab_size: int = 384) -> Any:
    """A byte-level BPE ``tokenizers.Tokenizer`` trained on :data:`CORPUS`, ``specials`` first."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS, trainer=trainer)
    return bpe


def _write_tokenizer(directory: Path, bpe: Any, config: dict[str, Any]) -> Any:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=bpe, **config)
    fast.save_pretrained(str(directory))
    return fast


def _save_model(directory: Path, config: Any, seed: int) -> None:
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():  # larger random logits than the default init: greedy choices are not near-ties
        model.lm_head.weight.normal_(0.0, 0.5) if not config.tie_word_embeddings else None
    model.eval()
    model.save_pretrained(str(directory))
    eos = config.eos_token_id
    GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=eos, do_sample=False).save_pretrained(
        str(directory)
    )


def _shape(**overrides: Any) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 256,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
    }
    shape.update(overrides)
    return shape


def save_qwen2(directory: Path, seed: int = 0, **overrides: Any) -> Path:
    """A tiny Qwen2ForCausalLM folder with a ChatML tokenizer; returns ``directory``."""
    from transformers import Qwen2Config

    directory.mkdir(parents=True, exist_ok=True)
    bpe = tokenizer(_QWEN_SPECIALS)
    fast = _write_tokenizer(
        directory,
        bpe,
        {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "chat_template": QWEN_TEMPLATE},
    )
    eos = fast.convert_tokens_to_ids("<|im_end|>")
    config = Qwen2Config(
        vocab_size=bpe.get_vocab_size(),
        bos_token_id=None,
        eos_token_id=eos,
        pad_token_id=fast.convert_tokens_to_ids("<|endoftext|>"),
        rope_theta=10000.0,
        **_shape(**overrides),
    )
    config.architectures = ["Qwen2ForCausalLM"]
    _save_model(directory, config, seed)
    return directory


def save_llama(directory: Path, seed: int = 1, **overrides: Any) -> Path:
    """A tiny LlamaForCausalLM folder with a Llama 3 style tokenizer and template; returns ``directory``."""
    from transformers import LlamaConfig

    directory.mkdir(parents=True, exist_ok=True)
    bpe = tokenizer(_LLAMA_SPECIALS)
    fast = _write_tokenizer(
        directory,
        bpe,
        {
            "bos_token": "<|begin_of_text|>",
            "eos_token": "<|eot_id|>",
            "pad_token": "<|end_of_text|>",
            "chat_template": LLAMA_TEMPLATE,
        },
    )
    config = LlamaConfig(
        vocab_size=bpe.get_vocab_size(),
        bos_token_id=fast.convert_tokens_to_ids("<|begin_of_text|>"),
        eos_token_id=[fast.convert_tokens_to_ids("<|eot_id|>"), fast.convert_tokens_to_ids("<|end_of_text|>")],
        rope_theta=10000.0,
        **_shape(**overrides),
    )
    config.architectures = ["LlamaForCausalLM"]
    _save_model(directory, config, seed)
    return directory


def package_tiny(kind: str, root: Path, version: str = "1.0.0") -> Path:
    """Build the tiny ``kind`` ("qwen2" or "llama") folder under ``root`` and package it (fp32); the bundle dir."""
    from model_packager import package

    folder = (save_qwen2 if kind == "qwen2" else save_llama)(root / f"{kind}-folder")
    result = package(folder, name=f"tiny-{kind}", version=version, out=root / "bundles")
    return result.directory


def hf_greedy(folder: Path, ids: list[int], steps: int) -> list[int]:
    """transformers' greedy tokens after ``ids`` (stops after an eos token)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos])
    tokens: list[int] = []
    with torch.no_grad():
        sequence = list(ids)
        for _ in range(steps):
            token = int(model(torch.tensor([sequence])).logits[0, -1].argmax())
            tokens.append(token)
            sequence.append(token)
            if token in eos_ids:
                break
    return tokens
