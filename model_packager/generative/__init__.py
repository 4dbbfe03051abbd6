"""Causal language models (text-generation): export with onnxruntime-genai's model builder, gate, bundle.

:func:`package_text_generation` backs ``maaskit package DIR --task text-generation`` (and folders whose
``config.json`` names a ``*ForCausalLM`` architecture); see ``docs/generation.md``.
"""

from __future__ import annotations

from model_packager.generative.entry import package_text_generation, wants_text_generation

__all__ = ["package_text_generation", "wants_text_generation"]
