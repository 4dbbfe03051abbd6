"""A loaded audio classifier: each decoded file runs alone; :func:`load_audio_classifier` is its entry.

:func:`handlers.engine.load_runtime` calls :func:`load_audio_classifier` for ``task == audio-classification``
(``handlers.engine.RUNTIME_LOADERS``). The processor is :class:`handlers.speech.classifier.AudioClassifierProcessor`
(kept apart from this module, which imports the engine, so the processor registry imports no circle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bundle import Bundle, open_bundle
from handlers.engine import ModelRuntime
from handlers.settings import Settings
from handlers.speech.classifier import AudioClassifierProcessor
from handlers.strategies import Strategy, Threaded

__all__ = ["AudioClassifierRuntime", "load_audio_classifier"]

_INPUT = "input_values"
_LENGTH = "audio_length"


class AudioClassifierRuntime(ModelRuntime):
    """An audio classifier's session: each file of a decoded feed runs alone (see the module docstring)."""

    def run(self, feed: dict[str, np.ndarray], options: Any = None) -> dict[str, np.ndarray]:
        """Files one by one, their outputs stacked; ``input_values`` by name as one batch."""
        if _LENGTH not in feed:
            return super().run(feed, options)
        values = np.asarray(feed[_INPUT])
        parts = [
            super(AudioClassifierRuntime, self).run({_INPUT: values[index : index + 1, : int(length)]}, options)
            for index, length in enumerate(np.asarray(feed[_LENGTH]).tolist())
        ]
        return {name: np.concatenate([part[name] for part in parts]) for name in self.output_names}

    def use(self, strategy: Strategy) -> None:
        """Files of different lengths are never batched together: always in the thread pool."""
        super().use(Threaded())


def load_audio_classifier(
    path: str | Path | Bundle, settings: Settings, *, warm: bool = True, strategy: Strategy | None = None
) -> AudioClassifierRuntime:
    """Open and verify an audio classifier bundle, create its session, and (by default) warm it up on its samples.

    The warm-up is the ordinary one (:meth:`ModelRuntime.warm_up`): the stored ``input_values`` run as one
    batch and the one judge compares the class probabilities and labels with the samples.
    """
    from handlers.engine import _check_signature
    from handlers.session import create_session

    bundle = path if isinstance(path, Bundle) else open_bundle(path)  # checksums verified before anything loads
    session = create_session(bundle.model_path, settings)
    _check_signature(bundle.manifest, session, bundle.root)
    runtime = AudioClassifierRuntime(bundle, session, AudioClassifierProcessor(bundle))
    if warm:
        runtime.warm_up(settings)
        runtime.use(strategy or Threaded())
    return runtime
