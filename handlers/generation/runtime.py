"""A loaded generative bundle in the model repository: engine, processor, warm-up on its golden continuations.

:func:`load_generative` is what :func:`handlers.engine.load_runtime` calls for ``task == text-generation``
(a bundle without a plain onnxruntime session). The warm-up re-tokenizes every sample prompt (the ids
must be those transformers gave at packaging) and replays its golden greedy continuation through the
engine, judged by the bundle's judge (:func:`bundle.judge.judge`); a mismatch refuses to serve.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from bundle import Bundle, names, open_bundle
from bundle.genai import cuda_available
from bundle.generation import PAD_ID
from bundle.judge import GREEDY_KEY, Answer, judge, padded
from handlers.engine import ModelRuntime
from handlers.errors import InvalidInputError
from handlers.generation.engine import GenerationEngine, GenerationRequest
from handlers.generation.errors import GenerationWarmupError
from handlers.generation.processor import GenerationProcessor
from handlers.settings import Settings

__all__ = ["QUEUE_ENV", "GenerativeRuntime", "generation_engine_of", "load_generative"]

logger = logging.getLogger("maaskit.generation")

#: Requests that may wait for the generation worker before new ones get 429 (``Settings.generation_queue``).
QUEUE_ENV = names.GENERATION_QUEUE


class GenerativeRuntime(ModelRuntime):
    """A text-generation bundle: no onnxruntime session, an engine that owns the onnxruntime-genai model."""

    def __init__(self, bundle: Bundle, engine: GenerationEngine, processor: GenerationProcessor) -> None:
        super().__init__(bundle, None, processor)  # no plain session
        self.engine = engine
        self.generation_processor = processor
        spec = bundle.manifest.generation
        assert spec is not None
        self.spec = spec

    def run(self, feed: dict[str, Any], options: Any = None) -> dict[str, Any]:
        """Tensor inference is not served: a 400 naming the generation routes."""
        raise InvalidInputError(f"model {self.name} generates text: use POST /v1/chat/completions or /v1/completions")

    def use(self, strategy: Any) -> None:
        """Generation runs on the engine's worker, whatever the repository's strategy."""
        logger.info("model %s %s ready (text-generation, %s on %s)", self.name, self.version, self.spec.precision,
                    self.spec.execution_provider)  # fmt: skip

    @property
    def providers(self) -> list[str]:
        """The execution provider of the generation model."""
        return ["CUDAExecutionProvider" if self.spec.execution_provider == "cuda" else "CPUExecutionProvider"]

    def warm_up(self, settings: Settings) -> None:
        """Replay the golden continuations greedily; GenerationWarmupError on any difference."""
        samples = self.bundle.samples()
        prompts = [json.loads(str(text)) for text in samples.inputs["prompt"].tolist()]
        stored = samples.inputs["input_ids"]
        generated: list[list[int]] = []
        for index, prompt in enumerate(prompts):
            processor = self.generation_processor
            ids = (
                processor.chat_ids(prompt["messages"])
                if "messages" in prompt
                else processor.prompt_ids(prompt["prompt"])
            )
            expected = [int(token) for token in stored[index] if int(token) != PAD_ID]
            if ids != expected:
                raise GenerationWarmupError(
                    f"{self.bundle.root}: sample prompt {index} tokenizes to other ids than at packaging; "
                    "the tokenizer or chat template changed: repackage the model"
                )
            request = GenerationRequest(ids, self.spec.golden_tokens, temperature=0.0)
            generated.append(self.engine.generate(request)[1].token_ids)
        if settings.verify_samples and samples.outputs:
            verdict = judge(
                self.manifest, self.bundle.root, samples, lambda _raw: Answer({GREEDY_KEY: padded(generated)})
            )
            if not verdict.passed:
                problems = "; ".join(verdict.problems)
                raise GenerationWarmupError(f"{self.bundle.root}: {problems}; the bundle is not served")
        self.ready = True

    def close(self) -> None:
        """Stop the engine's worker."""
        self.engine.close()


def load_generative(path: str | Path | Bundle, settings: Settings, *, warm: bool = True,
                    max_waiting: int | None = None) -> GenerativeRuntime:  # fmt: skip
    """Open (verified), load and warm up a text-generation bundle."""
    bundle = path if isinstance(path, Bundle) else open_bundle(path)
    spec = bundle.manifest.generation
    if spec is None:
        raise InvalidInputError(f"{bundle.root} is not a text-generation bundle (task {bundle.manifest.task})")
    processor = GenerationProcessor(bundle)
    on_cuda = spec.execution_provider == "cuda" and "CUDAExecutionProvider" in settings.providers
    if spec.execution_provider == "cuda" and not (on_cuda and cuda_available()):
        logger.warning(
            "%s was built for CUDA but runs on the CPU execution provider here (slower); serve it where "
            "onnxruntime-genai-cuda and a GPU are, with MAASKIT_PROVIDERS=cuda,cpu",
            bundle.key,
        )
    engine = GenerationEngine(
        bundle.root,
        spec.eos_token_ids,
        spec.vocab_size,
        max_waiting=settings.generation_queue if max_waiting is None else max_waiting,
        on_cuda=on_cuda,
    )
    runtime = GenerativeRuntime(bundle, engine, processor)
    if warm:
        try:
            runtime.warm_up(settings)
        except BaseException:
            engine.close()
            raise
    return runtime


def generation_engine_of(runtime: ModelRuntime) -> GenerativeRuntime | None:
    """``runtime`` when it generates text, else None."""
    return runtime if isinstance(runtime, GenerativeRuntime) else None
