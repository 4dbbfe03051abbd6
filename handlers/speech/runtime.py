"""A loaded speech bundle in the model repository: its engine, a threaded transcription, a warm-up on its samples.

:func:`load_speech` is what :func:`handlers.engine.load_runtime` calls for ``task ==
automatic-speech-recognition``. The runtime's ``run`` transcribes the feed the
:class:`~handlers.speech.processor.SpeechProcessor` made (decoded audio and options) and answers
``text`` and ``transcript`` (JSON documents with segments), so every codec's generic pipeline serves it;
transcription runs in the thread pool whatever the repository's strategy (a window takes a while, and
requests of different lengths are never batched). The warm-up transcribes the bundle's sample files and
judges them by :func:`bundle.parity_speech.reproduces_speech` with the bound the gate recorded: a
bundle that does not reproduce its transcripts is never served.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from bundle import Bundle, open_bundle
from bundle.parity_speech import reproduces_speech
from bundle.processing.audio import decode_audio
from bundle.speech import TRANSCRIPT_KEY, unpack_audio
from handlers.engine import ModelRuntime
from handlers.errors import ModelExecutionError, ModelNotReadyError
from handlers.settings import Settings
from handlers.speech.engines import Asked, SpeechEngine, engine_for
from handlers.speech.processor import SpeechProcessor
from handlers.strategies import Strategy, Threaded

__all__ = ["SpeechRuntime", "load_speech", "speech_session"]

logger = logging.getLogger("maaskit.speech")


class SpeechRuntime(ModelRuntime):
    """A speech bundle: ``run`` transcribes (see the module docstring)."""

    def __init__(self, bundle: Bundle, session: Any, processor: SpeechProcessor, engine: SpeechEngine) -> None:
        super().__init__(bundle, session, processor)
        self.engine = engine
        self.speech_processor = processor
        self.spec = processor.spec
        self.output_names = ["text", "transcript"]

    def run(self, feed: dict[str, np.ndarray], options: Any = None) -> dict[str, np.ndarray]:
        """Transcribe every file of the feed; onnxruntime failures become ModelExecutionError (422)."""
        if not self.ready and not self._warming:
            raise ModelNotReadyError(f"model {self.name} {self.version} is not warmed up yet; retry shortly")
        texts, documents = [], []
        for index, length in enumerate(np.asarray(feed["audio_length"]).tolist()):
            asked = Asked(**json.loads(str(feed["options"][index])))
            try:
                transcript = self.engine.transcribe(np.asarray(feed["audio"][index, : int(length)]), asked)
            except Exception as exc:  # onnxruntime's own exception types
                raise ModelExecutionError(
                    f"model {self.name} {self.version} failed to transcribe: {str(exc)[:300]}"
                ) from exc
            texts.append(transcript.text)
            documents.append(json.dumps(asdict(transcript)))
        return {"text": np.asarray(texts, dtype=object), "transcript": np.asarray(documents, dtype=object)}

    def transcribe(self, data: bytes, **options: Any) -> dict[str, Any]:
        """One encoded file's transcript document (synchronous; for tests and tools)."""
        feed = self.speech_processor.preprocess(_inputs(data, options))
        return dict(json.loads(str(self.run(feed)["transcript"][0])))

    def use(self, strategy: Strategy) -> None:
        """Transcription always runs in the thread pool (budgets and batching do not apply to it)."""
        super().use(Threaded())

    def warm_up(self, settings: Settings) -> None:
        """Transcribe the sample files and judge them; WarmupMismatchError on any difference."""
        from handlers.warmup import raise_on

        samples = self.bundle.samples()
        files = unpack_audio(samples.inputs)
        expected = [str(text) for text in np.asarray(samples.outputs[TRANSCRIPT_KEY]).tolist()]
        rate = self.spec.features.sampling_rate
        self._warming = True
        try:
            audio = [decode_audio(data, rate).samples for data in files]
            timings, actual = [], []
            for samples_ in audio:
                started = time.perf_counter()
                actual.append(self.engine.transcribe(samples_, Asked(task="transcribe")).text.strip())
                timings.append((time.perf_counter() - started) * 1000.0)
        finally:
            self._warming = False
        if settings.verify_samples:
            verdict = reproduces_speech(expected, actual, max_word_error_rate=self.spec.parity.max_word_error_rate)
            raise_on(self.manifest, verdict.problems)
        self.single_row_ms = statistics.median(timings) if timings else None
        self.ready = True


def _inputs(data: bytes, options: dict[str, Any]) -> Any:
    from handlers.vocabulary import Inputs

    return Inputs(raw=data, options=options)


def speech_session(model_path: Path, settings: Settings) -> Any:
    """An onnxruntime session for a speech graph: ``settings``' providers and threads, spinning off.

    As :func:`handlers.session.create_session` (which it follows), with two choices of its own for a
    decoder loop that runs a few hundred small operators per token: sequential execution, and the
    intra-op threads block instead of spinning between operators
    (``session.intra_op.allow_spinning = 0``). Spinning buys microseconds on an idle machine and
    costs far more where the cores are shared: measured on 2 shared CPU threads (load average 8),
    a whisper-tiny-shaped decoder step took 41 ms with spinning threads and 21 ms without, and the
    encoder about 7% less. The arithmetic is the same, so are the answers.
    """
    import onnxruntime as ort

    from handlers.session import CPU, choose_providers, quiet_onnxruntime

    quiet_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = settings.inter_op_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    providers = choose_providers(settings.providers, ort.get_available_providers())
    session = ort.InferenceSession(str(model_path), sess_options=options, providers=providers)
    if providers[0] != CPU and providers[0] not in session.get_providers():
        logger.warning("%s could not be initialised for %s; running on %s", providers[0], model_path,
                       ", ".join(session.get_providers()))  # fmt: skip
    return session


def load_speech(
    path: str | Path | Bundle, settings: Settings, *, warm: bool = True, strategy: Strategy | None = None
) -> SpeechRuntime:
    """Open and verify a speech bundle, create its sessions and engine, and (by default) warm it up."""
    bundle = path if isinstance(path, Bundle) else open_bundle(path)  # checksums verified before anything loads
    processor = SpeechProcessor(bundle)
    session = speech_session(bundle.model_path, settings)
    engine = engine_for(bundle, processor.spec, session, lambda file: speech_session(file, settings))
    runtime = SpeechRuntime(bundle, session, processor, engine)
    if warm:
        runtime.warm_up(settings)
        runtime.use(strategy or Threaded())
    logger.debug("speech bundle %s loaded (%s)", runtime.key, processor.spec.kind)
    return runtime
