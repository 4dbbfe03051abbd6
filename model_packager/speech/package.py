"""``package(..., task="automatic-speech-recognition")``: a Whisper or CTC folder becomes a gated speech bundle.

Steps: read the folder (architecture detected and said), export with torch.onnx
(:mod:`model_packager.speech.export`), write the processing files (vocabulary or tokenizer, the mel
filter bank), run the speech gate against transformers on the sample audio, write the bundle
atomically (nothing is left behind when the gate fails).
"""

from __future__ import annotations

import io
import json
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bundle.manifest import Manifest, ParityCheck, ParityReport
from bundle.processing.whisper import WhisperDecoder
from bundle.reader import file_sha256
from bundle.speech import SPEECH_TASK, TRANSCRIPT_KEY, SpeechParity, SpeechSpec, pack_audio
from bundle.writer import write_bundle
from model_packager.job import PackageResult, work_folder
from model_packager.parity import ParityError
from model_packager.speech.common import exported_fields, packaged
from model_packager.speech.export import export_ctc, export_whisper
from model_packager.speech.gate import GateResult, run_gate
from model_packager.speech.quantize import INT8_MAX_WORD_ERROR_RATE, quantize_graph
from model_packager.speech.samples import load_audio_samples
from model_packager.speech.screen import add_output_screen
from model_packager.speech.source import SpeechSource, default_max_seconds, read_source, whisper_spec

__all__ = ["package_speech_folder"]

_COPIED = ("preprocessor_config.json", "generation_config.json", "tokenizer_config.json", "special_tokens_map.json")


def _processing_files(source: SpeechSource, work: Path) -> dict[str, Any]:
    """Write the files serving needs into ``work``; the spec fields that name them."""
    for name in _COPIED:
        if (source.path / name).is_file():
            shutil.copyfile(source.path / name, work / name)
    tokenizer = source.processor.tokenizer
    if source.kind == "ctc":
        vocab = {str(k): int(v) for k, v in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])}
        (work / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=1), encoding="utf-8")
        assert source.ctc is not None
        return {"ctc": source.ctc.model_copy(update={"vocab_sha256": file_sha256(work / "vocab.json")})}
    saved = work / "tokenizer-save"
    tokenizer.save_pretrained(str(saved))
    shutil.copyfile(saved / "tokenizer.json", work / "tokenizer.json")
    shutil.rmtree(saved)
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(source.processor.feature_extractor.mel_filters, dtype=np.float64), allow_pickle=False)
    (work / "mel_filters.npy").write_bytes(buffer.getvalue())
    features = source.features.model_copy(update={"mel_filters_sha256": file_sha256(work / "mel_filters.npy")})
    assert source.whisper_fields is not None
    return {"features": features, "whisper": whisper_spec(source.whisper_fields, file_sha256(work / "tokenizer.json"))}


def _decoder(source: SpeechSource, work: Path, fields: dict[str, Any]) -> WhisperDecoder:
    import onnxruntime
    from tokenizers import Tokenizer

    encoder = onnxruntime.InferenceSession(str(work / "model.onnx"), providers=["CPUExecutionProvider"])
    decoder = onnxruntime.InferenceSession(str(work / "decoder.onnx"), providers=["CPUExecutionProvider"])
    filters = np.load(work / "mel_filters.npy", allow_pickle=False)
    return WhisperDecoder(
        fields["whisper"],
        fields["features"],
        filters,
        lambda features: encoder.run(None, {"input_features": features}),
        decoder,
        Tokenizer.from_file(str(work / "tokenizer.json")),
    )


def _report(parity: SpeechParity) -> ParityReport:
    """The gate in the manifest's common shape: transcript word accuracy; fp32 also the tensor differences.

    (int8 gates on transcripts only: its tensor differences are in ``speech.parity``, not judged.)
    """
    accuracy = max(0.0, 1.0 - parity.word_error_rate)
    bound = 1.0 - parity.max_word_error_rate
    exact = bound < 1.0 or parity.transcript_agreement >= 1.0
    checks = [ParityCheck(output="transcript", metric="label_agreement", tolerance=bound, measured=accuracy,
                          passed=accuracy >= bound and exact)]  # fmt: skip
    if parity.max_word_error_rate > 0.0:
        return ParityReport(sample_count=parity.samples, passed=parity.passed, checks=checks)
    figures = [
        ("logits" if parity.feature_max_abs is None else "encoder_hidden_states", parity.output_max_abs,
         parity.output_tolerance),
        ("input_features", parity.feature_max_abs, parity.feature_tolerance),
        ("decoder_logits", parity.decoder_logits_max_abs, parity.decoder_logits_tolerance),
    ]  # fmt: skip
    for output, measured, tolerance in figures:
        if measured is not None and tolerance is not None:
            checks.append(ParityCheck(output=output, metric="max_abs_diff", tolerance=tolerance, measured=measured,
                                      passed=measured <= tolerance))  # fmt: skip
    return ParityReport(sample_count=parity.samples, passed=parity.passed, checks=checks)


def _int8(  # noqa: PLR0917
    source: SpeechSource,
    files: list[bytes],
    work: Path,
    fields: dict[str, Any],
    synthetic: bool,
    bound: float | None,
    step: Callable[[str], None],
) -> GateResult:
    step("quantizing to int8 and gating its transcripts")
    for graph in ("model.onnx", "decoder.onnx"):
        if (work / graph).is_file():
            quantize_graph(work / graph)
    decoder = _decoder(source, work, fields) if source.kind == "whisper" else None
    limit = INT8_MAX_WORD_ERROR_RATE if bound is None else bound
    gate = run_gate(
        source, files, work / "model.onnx", decoder, synthetic=synthetic, max_word_error_rate=max(limit, 1e-9)
    )
    if gate.problems:
        raise ParityError("the int8 speech gate failed: " + "; ".join(gate.problems[:6]), _report(gate.parity), "int8")
    return gate


def package_speech_folder(
    path: Path,
    *,
    name: str,
    version: str,
    out: Path,
    sample: Any,
    metadata: Mapping[str, str] | None,
    force: bool,
    on_step: Callable[[str], None] | None,
    provenance: Any,
    created: str,
    int8: bool = False,
    max_word_error_rate: float | None = None,
) -> PackageResult:
    """Export, gate and write one speech bundle; raises ParityError when the gate fails.

    ``int8``: once the fp32 graphs passed, quantize them and gate the transcripts on ``max_word_error_rate``
    (default :data:`~model_packager.speech.quantize.INT8_MAX_WORD_ERROR_RATE`).
    """
    step = on_step or (lambda _message: None)
    started = time.perf_counter()
    step("loading the speech model")
    source = read_source(path)
    notes = [
        f"detected {source.architecture} ({'Whisper encoder-decoder' if source.kind == 'whisper' else 'CTC'}): "
        "packaging for automatic-speech-recognition"
    ]
    files, note = load_audio_samples(sample)
    notes += [note] if note else []
    out.mkdir(parents=True, exist_ok=True)
    with work_folder(out, name) as work:
        step("exporting with torch.onnx")
        if source.kind == "ctc":
            export_ctc(source.model, work / "model.onnx")
        else:
            export_whisper(source.model, work / "model.onnx", work / "decoder.onnx")
        fields = _processing_files(source, work)
        if source.kind == "whisper" and not int8:  # int8 bundles' output layer is int8 already
            add_output_screen(work / "decoder.onnx", fields["whisper"].timestamp_begin)
        exported = time.perf_counter()
        step("checking speech parity against transformers")
        decoder = _decoder(source, work, fields) if source.kind == "whisper" else None
        gate = run_gate(source, files, work / "model.onnx", decoder, synthetic=sample is None)
        if gate.problems:
            raise ParityError("the speech gate failed: " + "; ".join(gate.problems[:6]), _report(gate.parity), "speech")
        if int8:
            gate = _int8(source, files, work, fields, sample is None, max_word_error_rate, step)
            notes.append(
                f"int8: word error rate {gate.parity.word_error_rate:.3f} against transformers' transcripts "
                f"(at most {gate.parity.max_word_error_rate:.3f}); the fp32 graphs reproduced them exactly first"
            )
        gated = time.perf_counter()

        speech = SpeechSpec(
            architecture=source.architecture,
            model_type=source.model_type,
            kind=source.kind,  # type: ignore[arg-type]
            precision="int8" if int8 else "fp32",
            features=fields.get("features", source.features),
            ctc=fields.get("ctc"),
            whisper=fields.get("whisper"),
            max_audio_seconds=default_max_seconds(),
            parity=gate.parity,
        )
        identity = exported_fields(work / "model.onnx", name=name, version=version, created=created,
                                 provenance=provenance, metadata=metadata)  # fmt: skip
        manifest = Manifest.model_validate(
            {
                **identity,
                "task": SPEECH_TASK,
                "parity": _report(gate.parity),
                "speech": speech,
            }
        )
        kept = {".json", ".npy", ".txt", ".model"}
        extra = {
            f.name: f.read_bytes()
            for f in sorted(work.iterdir())
            if f.is_file() and (f.suffix in kept or f.name == "decoder.onnx")
        }
        step("writing the bundle")
        paths = write_bundle(
            out,
            manifest,
            work / "model.onnx",
            pack_audio(files),
            {TRANSCRIPT_KEY: np.asarray(gate.transcripts, dtype=str)},
            force=force,
            extra_files=extra,
        )
    return packaged(paths, notes, started, exported, gated)
