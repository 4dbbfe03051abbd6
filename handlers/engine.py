"""The inference engine: loaded model versions (:class:`ModelRuntime`) and their index (:class:`ModelRepository`).

A runtime is only created from a verified bundle, and is only ``ready`` after its warm-up
reproduced the bundle's samples. Routes call ``await runtime.infer(feed)``, made by the inference
strategy (:mod:`handlers.strategies`: inline, threaded, batched, budgeted) that the repository was
loaded with.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from bundle import NAME_MAX_LENGTH, VERSION_MAX_LENGTH, Bundle, BundleFormatError, Manifest, Samples, open_bundle
from bundle.dtypes import ORT_TYPES
from bundle.semver import semver_key
from handlers.errors import (
    InvalidInputError,
    ModelExecutionError,
    ModelNotFoundError,
    ModelNotReadyError,
    VersionNotFoundError,
)
from handlers.locate import find_bundles
from handlers.processing import processor_for
from handlers.settings import Settings
from handlers.strategies import Inline, Strategy, choose_strategy
from handlers.vocabulary import Feed, Outputs, Processor

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["Inferencer", "ModelRepository", "ModelRuntime", "load_runtime"]

logger = logging.getLogger("maaskit.engine")

Inferencer = Callable[[Feed], Awaitable[Outputs]]
"""The awaitable seam: feed of named arrays in, named output arrays out."""

_ORT_MESSAGE_LIMIT = 300


def _trim_ort_message(exc: Exception) -> str:
    text = str(exc).strip()
    for marker in ("] : ", "] "):
        if marker in text:
            text = text.rsplit(marker, 1)[-1]
            break
    return text if len(text) <= _ORT_MESSAGE_LIMIT else text[: _ORT_MESSAGE_LIMIT - 3] + "..."


class ModelRuntime:
    """One loaded, verified bundle version with its onnxruntime session."""

    def __init__(self, bundle: Bundle, session: onnxruntime.InferenceSession, processor: Processor) -> None:
        self.bundle = bundle
        self.manifest: Manifest = bundle.manifest
        self.session = session
        self.name = self.manifest.name
        self.version = self.manifest.version
        self.key = f"{self.name}-{self.version}"
        self.output_names = [spec.name for spec in self.manifest.outputs]
        self.processor: Processor = processor
        """Inputs -> feed and outputs -> answers for this model (see :mod:`handlers.processing`); made by
        :func:`load_runtime` (:func:`~handlers.processing.processor_for`), never by the runtime itself."""
        self.ready = False
        self._warming = False
        self.single_row_ms: float | None = None
        self.infer: Inferencer = Inline().bind(self)
        """Awaitable inference, made by the strategy given to :meth:`use` (inline until then)."""

    def run(self, feed: dict[str, np.ndarray], options: onnxruntime.RunOptions | None = None) -> dict[str, np.ndarray]:
        """Synchronous ``session.run``; onnxruntime failures become ModelExecutionError (422).

        Raises ModelNotReadyError (503) before the warm-up has passed.
        """
        if not self.ready and not self._warming:
            raise ModelNotReadyError(f"model {self.name} {self.version} is not warmed up yet; retry shortly")
        try:
            results = self.session.run(self.output_names, feed, options)
        except Exception as exc:  # onnxruntime raises its own (pybind) exception types
            raise ModelExecutionError(
                f"model {self.name} {self.version} rejected the input: {_trim_ort_message(exc)}"
            ) from exc
        return dict(zip(self.output_names, results, strict=True))

    def use(self, strategy: Strategy) -> None:
        """Run inference through ``strategy`` from now on (after the warm-up: it may use the timing)."""
        self.infer = strategy.bind(self)
        logger.info(
            "model %s %s ready (providers %s, single-row run %.3f ms, inference %s)",
            self.name,
            self.version,
            ",".join(self.session.get_providers()),
            self.single_row_ms or 0.0,
            strategy.describe(),
        )

    def warm_up(self, settings: Settings) -> None:
        """Run the bundle's samples, judge them against the stored outputs, time a single-row run."""
        samples = self.bundle.samples()
        self._warming = True
        try:
            feed = self._sample_feed(samples)
            self._check_and_time(feed, samples, settings)
        finally:
            self._warming = False
        self.ready = True

    def _sample_feed(self, samples: Samples) -> dict[str, np.ndarray]:
        """The samples as a feed (:func:`handlers.warmup.sample_feed`: texts and images through the processor)."""
        from handlers.warmup import sample_feed

        return sample_feed(self, samples)

    def _check_and_time(self, feed: dict[str, np.ndarray], samples: Samples, settings: Settings) -> None:
        """Judge the samples by the bundle's one judge, then time a single-row run (:mod:`handlers.warmup`)."""
        from handlers.warmup import check_and_time

        self.single_row_ms = check_and_time(self, feed, samples, settings)

    @property
    def providers(self) -> list[str]:
        """Execution providers active in the session."""
        return list(self.session.get_providers())


def _as_feed(array: np.ndarray) -> np.ndarray:
    return array.astype(object) if array.dtype.kind in "US" else array


def _check_signature(manifest: Manifest, session: onnxruntime.InferenceSession, where: Path) -> None:
    actual = {node.name: node.type for node in session.get_inputs()}
    for spec in manifest.inputs:
        if spec.name not in actual:
            raise BundleFormatError(
                f"{where}: manifest input {spec.name!r} is not an input of model.onnx ({sorted(actual)})"
            )
        if actual[spec.name] != ORT_TYPES[spec.dtype]:
            raise BundleFormatError(
                f"{where}: manifest says input {spec.name!r} is {spec.dtype}, model.onnx says {actual[spec.name]}"
            )
    outputs = {node.name for node in session.get_outputs()}
    missing = [spec.name for spec in manifest.outputs if spec.name not in outputs]
    if missing:
        raise BundleFormatError(
            f"{where}: manifest outputs {missing} are not outputs of model.onnx ({sorted(outputs)})"
        )


#: Loaders of the families whose model is not a plain onnxruntime session, by manifest task, named as
#: ``module:function`` (the module subclasses :class:`ModelRuntime`, so the engine finds it by name).
RUNTIME_LOADERS: dict[str, str] = {
    "text-generation": "handlers.generation.runtime:load_generative",
    "automatic-speech-recognition": "handlers.speech.runtime:load_speech",
    "audio-classification": "handlers.speech.classifier_runtime:load_audio_classifier",
}


def load_runtime(
    path: str | Path, settings: Settings, *, warm: bool = True, strategy: Strategy | None = None
) -> ModelRuntime:
    """Open and verify a bundle, create its session, and (by default) warm it up and bind ``strategy``.

    ``strategy`` defaults to :func:`~handlers.strategies.choose_strategy` of ``settings``.

    Raises a BundleError subclass when the bundle is missing, altered, inconsistent or does not reproduce its samples.
    """
    from handlers.session import create_session

    bundle = open_bundle(path)  # checksums are verified before anything is loaded
    loader = RUNTIME_LOADERS.get(bundle.manifest.task or "")
    if loader is not None:  # a family whose model is not one onnxruntime session (onnxruntime-genai's)
        module, _, function = loader.partition(":")
        return cast(ModelRuntime, getattr(import_module(module), function)(bundle, settings, warm=warm))
    session = create_session(bundle.model_path, settings)
    _check_signature(bundle.manifest, session, bundle.root)
    runtime = ModelRuntime(bundle, session, processor_for(bundle))  # loads a tokenizer once; encodes nothing
    if warm:
        runtime.warm_up(settings)
        runtime.use(strategy or choose_strategy(settings))
    return runtime


class ModelRepository:
    """Loaded models by name, each with one or more versions; ``get`` picks the latest unless pinned."""

    def __init__(self, runtimes: Iterable[ModelRuntime] = (), strategy: Strategy | None = None) -> None:
        self._models: dict[str, dict[str, ModelRuntime]] = {}
        self._latest: dict[str, ModelRuntime] = {}
        self.strategy = strategy
        """The inference strategy the runtimes were loaded with (None: each runtime's own)."""
        for runtime in runtimes:
            self.add(runtime)

    @classmethod
    def load(
        cls, settings: Settings, paths: Iterable[str | Path] | None = None, *, strategy: Strategy | None = None
    ) -> ModelRepository:
        """Open every bundle in ``paths`` (default: ``settings.bundles``), verified, warmed up, on ``strategy``.

        ``strategy`` (default :func:`~handlers.strategies.choose_strategy` of ``settings``) is bound to
        every runtime after its warm-up.
        """
        strategy = strategy or choose_strategy(settings)
        repository = cls(strategy=strategy)
        for path in find_bundles(list(paths) if paths is not None else list(settings.bundles)):
            repository.add(load_runtime(path, settings, strategy=strategy))
        return repository

    async def close(self) -> None:
        """Release the strategy's threads (batchers); call once the server stops."""
        if self.strategy is not None:
            await self.strategy.close()

    def add(self, runtime: ModelRuntime) -> None:
        """Register a runtime; a second bundle with the same name and version is refused."""
        versions = self._models.setdefault(runtime.name, {})
        existing = versions.get(runtime.version)
        if existing is not None:
            if existing.manifest.files == runtime.manifest.files:
                return  # the same bundle reached twice (directory and its archive)
            raise BundleFormatError(
                f"two different bundles claim {runtime.name} {runtime.version} "
                f"({existing.bundle.root} and {runtime.bundle.root}); bump one version"
            )
        versions[runtime.version] = runtime
        self._latest[runtime.name] = max(versions.values(), key=lambda item: semver_key(item.version))

    def get(self, name: str, version: str | None = None) -> ModelRuntime:
        """The runtime for ``name`` at ``version`` (latest by semver when None).

        A name or version longer than a manifest allows is a 400 that does not repeat it (it may be megabytes).
        """
        if len(name) > NAME_MAX_LENGTH:
            raise self._unknown(name)
        if version is not None and len(version) > VERSION_MAX_LENGTH:
            raise InvalidInputError(
                f"the model version is {len(version)} characters long; versions have at most {VERSION_MAX_LENGTH}"
            )
        if version is None:
            latest = self._latest.get(name)
            if latest is None:
                raise self._unknown(name)
            return latest
        versions = self._models.get(name)
        if versions is None:
            raise self._unknown(name)
        runtime = versions.get(version)
        if runtime is None:
            raise VersionNotFoundError(
                f"model {name!r} has no version {version!r}; loaded versions: {', '.join(self.version_names(name))}"
            )
        return runtime

    def _unknown(self, name: str) -> ModelNotFoundError | InvalidInputError:
        if len(name) > NAME_MAX_LENGTH:  # never repeated: it may be megabytes
            return InvalidInputError(
                f"the model name is {len(name)} characters long; model names have at most {NAME_MAX_LENGTH}"
            )
        loaded = ", ".join(sorted(self._models)) or "none"
        return ModelNotFoundError(f"no model named {name!r} is loaded; loaded models: {loaded}")

    def names(self) -> list[str]:
        """Model names, sorted."""
        return sorted(self._models)

    def version_names(self, name: str) -> list[str]:
        """Versions of ``name``, oldest to newest by semver."""
        return sorted(self._models.get(name, {}), key=semver_key)

    def versions(self, name: str) -> list[ModelRuntime]:
        """Runtimes of ``name``, oldest to newest by semver (raises ModelNotFoundError)."""
        if name not in self._models:
            raise self._unknown(name)
        return [self._models[name][version] for version in self.version_names(name)]

    def runtimes(self) -> list[ModelRuntime]:
        """Every loaded runtime (by name, then version)."""
        return list(self)

    def __iter__(self) -> Iterator[ModelRuntime]:
        for name in self.names():
            yield from self.versions(name)

    def __len__(self) -> int:
        return sum(len(versions) for versions in self._models.values())

    @property
    def ready(self) -> bool:
        """True once at least one model is loaded and every loaded model is warm."""
        return len(self) > 0 and all(runtime.ready for runtime in self)
