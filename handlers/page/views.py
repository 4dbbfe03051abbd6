"""What the model page shows, read from the loaded bundles and the server's own metrics (no HTML here)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from typing import Any, Literal

import numpy as np
import orjson

from bundle import Manifest
from bundle.generation import GENERATION_TASK
from bundle.names import API_KEY
from bundle.speech import SPEECH_TASK
from handlers.engine import ModelRepository, ModelRuntime
from handlers.labels import label_output_values
from handlers.metrics import Metrics, VersionStats

__all__ = [
    "SAMPLE_ROWS",
    "ChatSample",
    "Family",
    "ModelView",
    "Snippet",
    "VersionView",
    "attr",
    "chat_sample",
    "family_of",
    "model_view",
    "openai_client_code",
    "pretty_json",
    "sample_request",
]

#: Rows of the bundle's own samples prefilled in the "try it" form.
SAMPLE_ROWS = 2

#: What the "try it" part of the page is for a model: a tensor form, an image picker, a chat box, a recorder.
Family = Literal["tensor", "image", "generation", "speech", "audio-label"]

#: The ``max_tokens`` prefilled in the chat box (the bundle's cap when that is lower).
CHAT_MAX_TOKENS = 256

#: Asked when a generative bundle's samples hold no conversation to start from.
_DEFAULT_QUESTION = "Tell me a short story."


def attr(value: Any) -> str:
    """``value`` as text safe in HTML content and attribute values."""
    return escape(str(value), quote=True)


def openai_client_code(base: str, name: str) -> str:
    """The opening of an ``openai`` snippet: a client on model ``name``'s own base URL at ``base``."""
    return (
        "import os\n\n"
        "from openai import OpenAI\n\n"
        "client = OpenAI(\n"
        f"    base_url={f'{base}/models/{name}/v1'!r},\n"
        f'    api_key=os.environ.get("{API_KEY}", "unused-by-maaskit-serve"),  # your key where the API asks one\n'
        ")\n"
    )


def pretty_json(value: Any, indent: int = 0) -> str:
    """JSON with objects indented and every innermost list (one row) on one line."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict) and value:
        items = [f"{inner}{orjson.dumps(str(k)).decode()}: {pretty_json(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(item, list | dict) for item in value):
        return "[\n" + ",\n".join(inner + pretty_json(item, indent + 1) for item in value) + f"\n{pad}]"
    return orjson.dumps(value).decode().replace(",", ", ")


@dataclass(frozen=True)
class Snippet:
    """One call: the tab label, the language for highlighting, and the text to copy."""

    key: str
    label: str
    language: str
    code: str


@dataclass(frozen=True)
class ChatSample:
    """A generative model's starting point: a sample conversation, a plain prompt, and the sampling limits."""

    system: str
    """The sample conversation's system prompt ("" when it has none)."""
    user: str
    """Its first user turn."""
    prompt: str
    """A plain prompt (the Hugging Face ``inputs`` shape): a sample's, else the user turn."""
    temperature: float
    """The bundle's default temperature (0: greedy)."""
    max_tokens: int
    """Prefilled ``max_tokens``: :data:`CHAT_MAX_TOKENS`, or the bundle's cap when lower."""
    max_tokens_cap: int
    """The most new tokens the bundle allows per answer."""
    has_template: bool = True
    """False for a base model without a chat template: it completes prompts (``/v1/completions``) instead."""

    @property
    def messages(self) -> list[dict[str, str]]:
        """The conversation as OpenAI messages (system first when there is one)."""
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, {"role": "user", "content": self.user}]


@dataclass(frozen=True)
class VersionView:
    """One loaded version of a model, as the page shows it."""

    version: str
    latest: bool
    ready: bool
    manifest: Manifest
    providers: list[str]
    stats: VersionStats | None


@dataclass(frozen=True)
class ModelView:
    """A model: its versions (oldest first), the one shown, its sample request and expected answer."""

    name: str
    versions: list[VersionView]
    shown: VersionView
    sample_inputs: dict[str, Any]
    sample_outputs: dict[str, Any]
    family: Family = "tensor"
    chat: ChatSample | None = None
    """Generative models only: what the chat box and the generation snippets start from."""

    @property
    def sample_body(self) -> str:
        """The maaskit JSON body prefilled in the form (``{"inputs": {...}}``)."""
        return pretty_json({"inputs": self.sample_inputs})


def _shortest(value: np.floating[Any]) -> float:
    """The shortest decimal that reads back as the same float32 (``5.1``, not ``5.099999904632568``)."""
    return float(str(value))


def _jsonable(array: np.ndarray) -> Any:
    if array.dtype in (np.float32, np.float16):
        shortest = [_shortest(value) for value in array.ravel()]  # iterating yields float32 scalars
        return np.asarray(shortest, dtype=np.float64).reshape(array.shape).tolist()
    if array.dtype.kind in "US":
        return array.astype(str).tolist()
    if array.dtype.kind == "O":
        return [str(item) for item in array.ravel().tolist()]
    return array.tolist()


def _as_declared(manifest: Manifest, name: str, value: np.ndarray) -> np.ndarray:
    """A sample input in the dtype the signature declares (samples.npz may hold wider floats)."""
    spec = manifest.input_spec(name)
    array = np.asarray(value)
    if spec is not None and spec.dtype in {"float32", "float16"} and array.dtype.kind == "f":
        return array.astype(spec.dtype)
    return array


def family_of(manifest: Manifest) -> Family:
    """Which "try it" a model gets, from its task (and its image preprocessing)."""
    if manifest.task == GENERATION_TASK:
        return "generation"
    if manifest.task == SPEECH_TASK:
        return "speech"
    if manifest.task == "audio-classification":
        return "audio-label"
    return "image" if manifest.image is not None else "tensor"


def _conversation(prompt: Any) -> tuple[str, str] | None:
    """(system, first user turn) of a sample conversation that has no assistant turn yet, else None."""
    messages = prompt.get("messages") if isinstance(prompt, dict) else None
    if not isinstance(messages, list) or not messages:
        return None
    roles = [m.get("role") for m in messages if isinstance(m, dict)]
    if len(roles) != len(messages) or "assistant" in roles or "user" not in roles:
        return None
    system = next((str(m.get("content") or "") for m in messages if m["role"] == "system"), "")
    user = next(str(m.get("content") or "") for m in messages if m["role"] == "user")
    return system, user


def chat_sample(runtime: ModelRuntime) -> ChatSample:
    """The first sample conversation (and plain prompt) of a generative bundle, with its sampling limits."""
    spec = runtime.manifest.generation
    if spec is None:
        raise ValueError(f"{runtime.name} is not a generative bundle (task {runtime.manifest.task})")
    samples = runtime.bundle.samples()
    prompts = [json.loads(str(text)) for text in np.asarray(samples.inputs.get("prompt", [])).tolist()]
    conversations = [found for found in map(_conversation, prompts) if found is not None]
    plain = [str(p["prompt"]) for p in prompts if isinstance(p, dict) and isinstance(p.get("prompt"), str)]
    plain += [p for p in prompts if isinstance(p, str)]
    has_template = spec.chat_template_file is not None
    system, user = conversations[0] if conversations and has_template else ("", plain[0] if plain else "")
    user = user or _DEFAULT_QUESTION
    return ChatSample(
        system=system,
        user=user,
        prompt=plain[0] if plain else user,
        has_template=has_template,
        temperature=spec.defaults.temperature,
        max_tokens=min(CHAT_MAX_TOKENS, spec.max_new_tokens),
        max_tokens_cap=spec.max_new_tokens,
    )


def sample_request(runtime: ModelRuntime, rows: int = SAMPLE_ROWS) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first ``rows`` sample inputs and the ORIGINAL model's outputs for them, as JSON values.

    Generative, speech and audio-classification models have no tensor sample to send (their page offers a
    chat box or an audio upload): both are empty for them.
    """
    if family_of(runtime.manifest) in ("generation", "speech", "audio-label"):
        return {}, {}
    samples = runtime.bundle.samples()
    if runtime.manifest.image is not None:  # stored image files: base64 in maaskit JSON, as clients send them
        import base64

        from bundle.processing.image import unpack_images

        images = unpack_images(samples.inputs)[:1]
        inputs: dict[str, Any] = {"image": [{"b64": base64.b64encode(image).decode()} for image in images]}
        kept = {name: np.asarray(value)[: len(images)] for name, value in samples.outputs.items()}
        return inputs, {name: _jsonable(value) for name, value in kept.items()}
    inputs = {
        name: _jsonable(_as_declared(runtime.manifest, name, value)[:rows]) for name, value in samples.inputs.items()
    }
    outputs = {
        name: _jsonable(label_output_values(runtime.manifest, name, np.asarray(value)[:rows]))
        for name, value in samples.outputs.items()
    }
    return inputs, outputs


def _stats(metrics: Metrics | None) -> dict[tuple[str, str], VersionStats]:
    if metrics is None:
        return {}
    return {(stat.model, stat.version): stat for stat in metrics.version_stats()}


def model_view(repository: ModelRepository, name: str, metrics: Metrics | None) -> ModelView:
    """Everything the page shows for model ``name`` (raises ModelNotFoundError when it is not loaded)."""
    latest = repository.get(name)
    stats = _stats(metrics)
    versions = [
        VersionView(
            version=runtime.version,
            latest=runtime.version == latest.version,
            ready=runtime.ready,
            manifest=runtime.manifest,
            providers=runtime.providers,
            stats=stats.get((name, runtime.version)),
        )
        for runtime in repository.versions(name)
    ]
    shown = next(view for view in versions if view.latest)
    inputs, outputs = sample_request(latest)
    family = family_of(latest.manifest)
    return ModelView(
        name=name,
        versions=versions,
        shown=shown,
        sample_inputs=inputs,
        sample_outputs=outputs,
        family=family,
        chat=chat_sample(latest) if family == "generation" else None,
    )
