"""THE judge: does a bundle's model reproduce the bundle's samples?

One function, :func:`judge`, decides it for every phase: the packager's final re-check, ``maaskit
verify``, the runtime's warm-up, the deploy-time check and the pre-traffic hook. It chooses from the
bundle's task

* the feed: the sample inputs as a client sends them (:class:`RawSamples`): raw texts, stored image
  files, or tensors as stored; the runner turns them into the model's answer, locally
  (:func:`local_runner`: the bundle's tokenizer or image preprocessing, then onnxruntime) or
  remotely (the hook: Open Inference Protocol requests to the new Lambda version);
* the rule: the element-wise tensor rule with label agreement (:func:`bundle.parity.reproduces`) for
  tensor and image models; for text models :func:`bundle.parity_text.reproduces_text` (cosine and
  ranking for embeddings, real tokens only for token classifiers, label agreement for classifiers);
* the tolerances: those the manifest recorded for the last transformation (with the accelerator slack
  when asked).

Only numpy here; ``onnxruntime`` and ``tokenizers`` are imported when a local runner or a token
classifier's attention mask needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bundle.generation import GENERATION_TASK, PAD_ID, judge_greedy
from bundle.manifest import IMAGE_TASKS, TEXT_TASKS, Manifest, ParityCheck, ParityReport
from bundle.parity import final_parity, reproduces, tolerances_for
from bundle.parity_speech import judge_speech
from bundle.parity_text import reproduces_text, text_tolerances_from_report
from bundle.samples import Samples
from bundle.speech import SPEECH_TASK

__all__ = [
    "GREEDY_KEY",
    "Answer",
    "RawSamples",
    "Runner",
    "Verdict",
    "describe",
    "feed_for",
    "judge",
    "kind_of",
    "local_runner",
    "padded",
    "raw_samples",
    "run_feed",
]

Feed = dict[str, np.ndarray]
Kind = Literal["tensors", "texts", "images", "prompts"]
#: The stored sample key of a text bundle's raw texts.
TEXT_KEY = "text"


@dataclass(frozen=True)
class RawSamples:
    """A bundle's sample inputs as a client sends them: ``texts``, encoded ``images``, or ``tensors``."""

    kind: Kind
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)
    images: list[bytes] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Number of examples (rows)."""
        if self.kind == "texts":
            return len(self.texts)
        if self.kind == "images":
            return len(self.images)
        first = next(iter(self.tensors.values()), np.zeros(0))
        return int(first.shape[0]) if np.ndim(first) else 1

    def rows(self, start: int, stop: int) -> RawSamples:
        """Examples ``start`` to ``stop`` (tensors without a leading batch axis are kept whole)."""
        count = self.count
        tensors = {
            name: array[start:stop] if np.ndim(array) and array.shape[0] == count else array
            for name, array in self.tensors.items()
        }
        return RawSamples(self.kind, tensors, self.texts[start:stop], self.images[start:stop])


@dataclass(frozen=True)
class Answer:
    """What a runner gives back: the model's raw outputs by name, and what the rule may need besides.

    ``attention_mask``: a token classifier's mask of the encoded texts (1 on real tokens); when absent,
    the judge encodes the sample texts with the bundle's ``tokenizer.json`` to find it.
    """

    outputs: dict[str, np.ndarray]
    attention_mask: np.ndarray | None = None


Runner = Callable[[RawSamples], "Answer | dict[str, np.ndarray]"]
"""Runs the model on raw sample inputs: called once, with every sample in order."""


@dataclass(frozen=True)
class Verdict:
    """The judge's decision: the parity report and one message per failing check (none: reproduced)."""

    report: ParityReport
    problems: list[str]

    @property
    def passed(self) -> bool:
        """True when the outputs reproduce the samples."""
        return not self.problems


def kind_of(manifest: Manifest) -> Kind:
    """How the bundle's samples are fed: raw texts, image files, or tensors."""
    if manifest.task in TEXT_TASKS:
        return "texts"
    if manifest.task == GENERATION_TASK:
        return "prompts"
    return "images" if manifest.task in IMAGE_TASKS else "tensors"


def raw_samples(manifest: Manifest, samples: Samples) -> RawSamples:
    """The stored sample inputs as a client sends them (texts, encoded images, or tensors as stored)."""
    kind = kind_of(manifest)
    if kind == "texts":
        if TEXT_KEY not in samples.inputs:
            raise ValueError(f"{manifest.name}: a text bundle's samples need a {TEXT_KEY!r} input; repackage it")
        return RawSamples(kind, texts=[str(text) for text in np.asarray(samples.inputs[TEXT_KEY]).tolist()])
    if kind == "images":
        from bundle.processing.image import unpack_images

        return RawSamples(kind, images=unpack_images(samples.inputs))
    return RawSamples(kind, tensors=dict(samples.inputs))


def _encoded(manifest: Manifest, root: Path | None, texts: list[str]) -> Any:
    from bundle.processing.text import load_tokenizer

    if root is None or manifest.text is None:
        raise ValueError(f"{manifest.name}: texts are encoded by the bundle's tokenizer: give the bundle's root")
    return load_tokenizer(root, manifest.text).encode(texts)


def _mask(encoded: Any) -> np.ndarray:
    """1 on each text's real tokens (padding is on the right), whether or not the model takes a mask."""
    width = encoded.feed["input_ids"].shape[1]
    return (np.arange(width)[None, :] < np.asarray(encoded.token_counts)[:, None]).astype(np.int64)


def _fit_tokens(outputs: dict[str, np.ndarray], width: int) -> dict[str, np.ndarray]:
    """Per-token outputs padded (zeros) or cut on the token axis to ``width``: answers padded per request."""
    fitted = {}
    for name, value in outputs.items():
        array = np.asarray(value)
        if array.ndim == 3 and array.shape[1] != width:
            pad = max(0, width - array.shape[1])
            array = np.pad(array, ((0, 0), (0, pad), (0, 0)))[:, :width]
        fitted[name] = array
    return fitted


def _judge_text(
    manifest: Manifest,
    root: Path | None,
    raw: RawSamples,
    answer: Answer,
    expected: dict[str, np.ndarray],
    *,
    accelerator: bool,
) -> tuple[ParityReport, list[str]]:
    mask = answer.attention_mask
    if manifest.task == "token-classification":
        mask = _mask(_encoded(manifest, root, raw.texts)) if mask is None else np.asarray(mask)
        actual = _fit_tokens(answer.outputs, mask.shape[1])
        expected = _fit_tokens(expected, mask.shape[1])
    else:
        actual = answer.outputs
        mask = np.ones((raw.count, 1), dtype=np.int64) if mask is None else mask
    return reproduces_text(
        manifest.task,
        actual,
        expected,
        attention_mask=mask,
        tolerances=tolerances_for(manifest, accelerator=accelerator),
        text_tolerances=text_tolerances_from_report(final_parity(manifest)),
    )


def judge(
    manifest: Manifest, root: Path | None, samples: Samples, run: Runner, *, accelerator: bool = False
) -> Verdict:
    """Does ``run`` (the bundle's model, local or remote) reproduce the bundle's samples?

    ``root``: the bundle's directory (a token classifier's ``tokenizer.json`` is read there when the
    runner gives no attention mask; None for tensor bundles). ``accelerator``: the model ran on CUDA or
    TensorRT, whose kernels differ from the CPU's: ``atol`` is raised to ``ACCELERATOR_ATOL``.
    A runner that raises is not caught: its error says what went wrong better than a verdict could.
    """
    if manifest.task == SPEECH_TASK:  # audio files in, transcripts judged (by word error rate when quantized)
        return Verdict(*judge_speech(manifest, root, samples, getattr(run, "transcribe", None)))
    raw = raw_samples(manifest, samples)
    result = run(raw)
    answer = result if isinstance(result, Answer) else Answer(dict(result))
    # Outputs that are not tensors (e.g. an sklearn sequence of maps) have nothing comparable stored.
    other = {name for name, value in answer.outputs.items() if not isinstance(value, np.ndarray)}
    expected = {name: value for name, value in samples.outputs.items() if name not in other}
    if raw.kind == "prompts":
        report, problems = _judge_greedy(manifest, answer, samples)
    elif raw.kind == "texts":
        report, problems = _judge_text(manifest, root, raw, answer, expected, accelerator=accelerator)
    else:
        tolerances = tolerances_for(manifest, accelerator=accelerator)
        report, problems = reproduces(answer.outputs, expected, tolerances, manifest.label_output)
    return Verdict(report, problems)


#: The output a generative runner answers: each prompt's greedy tokens, ``PAD_ID``-padded.
GREEDY_KEY = "greedy_ids"


def _judge_greedy(manifest: Manifest, answer: Answer, samples: Samples) -> tuple[ParityReport, list[str]]:
    """Generative bundles: each prompt's greedy tokens against its golden continuation (the gate's share)."""
    spec = manifest.generation
    minimum = 1.0
    if spec is not None:
        minimum = spec.replay_min_exact if spec.replay_min_exact is not None else spec.parity.min_greedy_exact
    generated = [[int(token) for token in row if int(token) != PAD_ID] for row in answer.outputs[GREEDY_KEY]]
    verdict = judge_greedy(samples.outputs[GREEDY_KEY], generated, min_exact=minimum)
    check = ParityCheck(
        output=GREEDY_KEY, metric="greedy_exact", tolerance=minimum, measured=verdict.exact, passed=verdict.passed
    )
    report = ParityReport(sample_count=len(generated), passed=verdict.passed, checks=[check])
    return report, [] if verdict.passed else [verdict.describe()]


def padded(rows: list[list[int]]) -> np.ndarray:
    """Token rows of different lengths as one ``PAD_ID``-padded int64 array (a runner's ``greedy_ids``)."""
    width = max((len(row) for row in rows), default=0)
    out = np.full((len(rows), width), PAD_ID, dtype=np.int64)
    for index, row in enumerate(rows):
        out[index, : len(row)] = row
    return out


def _ort_feed(feed: Feed) -> Feed:
    return {
        name: array.astype(str).astype(object) if array.dtype.kind in "US" else array for name, array in feed.items()
    }


def run_feed(model: Path | bytes) -> Callable[[Feed], Feed]:
    """An onnxruntime CPU session over ``model`` (a path: ``model.onnx.data`` is found beside it), as a function."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.disable_prepacking", "1")  # no prepacked copies for one check
    source = model if isinstance(model, bytes) else str(model)
    session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]

    def run(feed: Feed) -> Feed:
        results = session.run(names, _ort_feed(feed))
        return {name: np.asarray(value) for name, value in zip(names, results, strict=True)}

    return run


def feed_for(manifest: Manifest, root: Path | None, raw: RawSamples) -> Feed:
    """The model's feed for raw inputs: texts through the bundle's tokenizer, images through its preprocessing."""
    if raw.kind == "texts":
        return dict(_encoded(manifest, root, raw.texts).feed)
    if raw.kind == "images":
        from bundle.processing.image import ImagePreprocessor

        assert manifest.image is not None  # an image task has an image spec (manifest validator)
        return ImagePreprocessor(manifest.image).feed(raw.images)
    return dict(raw.tensors)


def local_runner(manifest: Manifest, root: Path, run: Callable[[Feed], Feed] | None = None) -> Runner:
    """A runner over the bundle at ``root``: raw inputs -> its own processing -> ``run`` (default: onnxruntime CPU)."""
    model_run = run if run is not None else run_feed(root / "model.onnx")

    def runner(raw: RawSamples) -> Answer:
        if raw.kind == "texts":
            encoded = _encoded(manifest, root, raw.texts)
            return Answer(model_run(dict(encoded.feed)), _mask(encoded))
        return Answer(model_run(feed_for(manifest, root, raw)))

    return runner


def describe(verdict: Verdict) -> dict[str, Any]:
    """The verdict as JSON-ready data (hook and CLI logs)."""
    return {"passed": verdict.passed, "samples": verdict.report.sample_count, "problems": verdict.problems[:20]}
