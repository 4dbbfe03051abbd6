"""The transcript rule: does a speech bundle reproduce its samples' transcripts?

A speech bundle's samples are audio files and what the original model transcribed greedily. The rule
compares transcripts, not tensors: whitespace runs collapse, nothing else is forgiven. With
``max_word_error_rate`` 0 (fp32 bundles) every transcript must equal its sample's; a quantized bundle
records the word error rate its gate allowed, and every later judgement uses that bound.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bundle.manifest import ParityCheck, ParityReport

if TYPE_CHECKING:
    from bundle.manifest import Manifest
    from bundle.samples import Samples

__all__ = ["SpeechVerdict", "judge_speech", "local_transcripts", "reproduces_speech", "word_error_rate", "words"]


def words(text: str) -> list[str]:
    """``text`` split into words (whitespace runs collapse)."""
    return text.split()


def _edits(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance between two word lists (substitutions, insertions, deletions)."""
    previous = list(range(len(hypothesis) + 1))
    for row, word in enumerate(reference, start=1):
        current = [row]
        for column, other in enumerate(hypothesis, start=1):
            current.append(min(previous[column] + 1, current[column - 1] + 1, previous[column - 1] + (word != other)))
        previous = current
    return previous[-1]


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Edits over reference words, all pairs together (1.0 per hypothesis word when references are empty)."""
    edits = total = 0
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        expected, actual = words(reference), words(hypothesis)
        edits += _edits(expected, actual)
        total += len(expected)
    if total == 0:
        return 0.0 if edits == 0 else float(edits)
    return edits / total


@dataclass(frozen=True)
class SpeechVerdict:
    """The rule's answer: passed, the figures, and one line per sample that differs."""

    passed: bool
    agreement: float
    word_error_rate: float
    problems: list[str] = field(default_factory=list)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def reproduces_speech(
    expected: Sequence[str], actual: Sequence[str], *, max_word_error_rate: float = 0.0
) -> SpeechVerdict:
    """Judge ``actual`` transcripts against the samples' ``expected`` ones (see the module docstring)."""
    if len(expected) != len(actual):
        return SpeechVerdict(False, 0.0, 1.0, [f"{len(actual)} transcripts for {len(expected)} samples"])
    same = [words(a) == words(b) for a, b in zip(expected, actual, strict=True)]
    agreement = sum(same) / len(same) if same else 1.0
    rate = word_error_rate(expected, actual)
    passed = all(same) if max_word_error_rate <= 0.0 else rate <= max_word_error_rate
    problems = []
    if not passed:
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            if not same[index]:
                problems.append(f"sample {index}: transcribed {_short(got)!r}, expected {_short(want)!r}")
        problems.append(f"word error rate {rate:.3f} (at most {max_word_error_rate:.3f})")
    return SpeechVerdict(passed, agreement, rate, problems)


def local_transcripts(manifest: Manifest, root: Path, files: Sequence[bytes]) -> list[str]:
    """The bundle at ``root`` transcribing ``files`` on onnxruntime's CPU provider (``verify``, the packager)."""
    import onnxruntime

    from bundle.processing.audio import decode_audio
    from bundle.processing.ctc import CTCDecoder, chunk_logits
    from bundle.processing.whisper import WhisperDecoder

    spec = manifest.speech
    if spec is None:
        raise ValueError(f"{manifest.name}: a speech bundle needs its speech section; repackage it")

    def session(name: str) -> Any:
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        return onnxruntime.InferenceSession(str(root / name), options, providers=["CPUExecutionProvider"])

    rate = spec.features.sampling_rate
    audio = [decode_audio(data, rate).samples for data in files]
    model = session("model.onnx")
    if spec.ctc is not None:
        ctc, decoder = spec.ctc, CTCDecoder.load(root, spec.ctc)
        name = model.get_inputs()[0].name

        def run(values: np.ndarray) -> np.ndarray:
            return np.asarray(model.run(None, {name: values})[0])

        return [
            decoder.decode(chunk_logits(a, rate, ctc, run, normalize_input=spec.features.normalize).argmax(-1))
            for a in audio
        ]
    from tokenizers import Tokenizer

    assert spec.whisper is not None and spec.features.mel_filters_file is not None
    filters = np.load(root / spec.features.mel_filters_file, allow_pickle=False)
    tokenizer = Tokenizer.from_file(str(root / spec.whisper.tokenizer_file))
    whisper = WhisperDecoder(
        spec.whisper,
        spec.features,
        filters,
        lambda features: model.run(None, {"input_features": features}),
        session(spec.whisper.decoder_file),
        tokenizer,
    )
    return [whisper.transcribe(a).text.strip() for a in audio]


def judge_speech(
    manifest: Manifest,
    root: Path | None,
    samples: Samples,
    transcribe: Callable[[list[bytes]], list[str]] | None = None,
) -> tuple[ParityReport, list[str]]:
    """The judge's speech case: the sample files transcribed (by ``transcribe``, else locally) against their samples.

    The bound is the one the bundle's gate recorded (``speech.parity.max_word_error_rate``).
    """
    from bundle.speech import TRANSCRIPT_KEY, unpack_audio

    spec = manifest.speech
    if spec is None:
        raise ValueError(f"{manifest.name}: a speech bundle needs its speech section; repackage it")
    files = unpack_audio(samples.inputs)
    if transcribe is None:
        if root is None:
            raise ValueError(f"{manifest.name}: transcribing locally needs the bundle's root")
        transcribe = lambda items: local_transcripts(manifest, root, items)  # noqa: E731
    expected = [str(text) for text in np.asarray(samples.outputs[TRANSCRIPT_KEY]).tolist()]
    verdict = reproduces_speech(expected, transcribe(files), max_word_error_rate=spec.parity.max_word_error_rate)
    check = ParityCheck(
        output="transcript",
        metric="label_agreement",
        tolerance=1.0 - spec.parity.max_word_error_rate,
        measured=verdict.agreement,
        passed=verdict.passed,
    )
    return ParityReport(sample_count=len(files), passed=verdict.passed, checks=[check]), verdict.problems
