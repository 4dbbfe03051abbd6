"""Packaging speech folders: detection said, the gate's figures recorded, samples from --sample DIR or synthetic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("soundfile")

from typer.testing import CliRunner

from bundle import open_bundle
from bundle.parity_speech import judge_speech
from bundle.reader import file_sha256
from bundle.speech import TRANSCRIPT_KEY, unpack_audio
from maaskit.cli import app
from model_packager.api import package
from model_packager.job import InvalidRequestError
from tests.speechmodels import chirp, encode, save_wav2vec2, save_whisper, speech

runner = CliRunner()


def test_cli_detects_a_ctc_folder_and_gates_it_on_synthetic_audio(tmp_path: Path) -> None:
    folder = save_wav2vec2(tmp_path / "w2v")
    result = runner.invoke(
        app, ["package", str(folder), "--name", "ctc", "--version", "1.0.0", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "detected Wav2Vec2ForCTC (CTC)" in result.output and "built-in synthetic audio" in result.output
    assert "automatic-speech-recognition" in result.output
    bundle = open_bundle(tmp_path / "out" / "ctc-1.0.0")
    spec = bundle.manifest.speech
    assert spec is not None and spec.kind == "ctc" and spec.ctc is not None
    assert (
        spec.ctc.vocab_sha256 == file_sha256(bundle.root / "vocab.json") == bundle.manifest.files["vocab.json"].sha256
    )
    assert spec.parity.passed and spec.parity.synthetic and spec.parity.transcript_agreement == 1.0
    assert spec.parity.output_max_abs <= spec.parity.output_tolerance
    assert len(unpack_audio(bundle.samples().inputs)) == 3
    assert [i.name for i in bundle.manifest.inputs] == ["input_values"]
    assert bundle.manifest.inputs[0].shape == [None, None]
    report, problems = judge_speech(bundle.manifest, bundle.root, bundle.samples())  # what `verify` would run
    assert report.passed and not problems
    report, problems = judge_speech(bundle.manifest, bundle.root, bundle.samples(), lambda files: ["x"] * len(files))
    assert not report.passed and problems[0].startswith("sample 0: transcribed 'x'")


def test_whisper_with_sample_files_records_every_figure(tmp_path: Path) -> None:
    folder = save_whisper(tmp_path / "whisper")
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "a.flac").write_bytes(encode(speech(3.0), 16000, "FLAC"))
    (samples / "notes.txt").write_text("ignored")
    result = package(
        folder,
        name="whisper",
        version="1.0.0",
        out=tmp_path / "out",
        task="automatic-speech-recognition",
        sample=samples,
    )
    assert "detected WhisperForConditionalGeneration" in result.notes[0] and len(result.notes) == 1
    manifest = result.manifest
    spec = manifest.speech
    assert spec is not None and spec.whisper is not None and spec.kind == "whisper" and not spec.parity.synthetic
    parity = spec.parity
    assert parity.feature_max_abs is not None and parity.feature_max_abs < 5e-4
    assert (
        parity.decoder_logits_max_abs is not None and parity.decoder_logits_max_abs <= parity.decoder_logits_tolerance
    )
    assert parity.transcript_agreement == 1.0 and parity.word_error_rate == 0.0
    for name in (
        "decoder.onnx",
        "tokenizer.json",
        "mel_filters.npy",
        "preprocessor_config.json",
        "generation_config.json",
    ):
        assert name in manifest.files, name
    assert spec.whisper.tokenizer_sha256 == manifest.files["tokenizer.json"].sha256
    assert spec.features.mel_filters_sha256 == manifest.files["mel_filters.npy"].sha256
    assert spec.whisper.multilingual and set(spec.whisper.language_tokens) == {"en", "fr", "de"}
    assert spec.features.n_mels == 80 and spec.features.chunk_length == 30
    stored = result.directory / "samples.npz"
    transcripts = np.load(stored)[f"output/{TRANSCRIPT_KEY}"]
    assert transcripts.shape == (1,) and transcripts[0]
    assert json.loads((result.directory / "manifest.json").read_text())["task"] == "automatic-speech-recognition"
    bundle = open_bundle(result.directory)
    assert judge_speech(bundle.manifest, bundle.root, bundle.samples())[0].passed


def test_refusals_say_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
    with pytest.raises(InvalidRequestError, match="WhisperForConditionalGeneration and \\*ForCTC"):
        package(
            tmp_path / "plain", name="x", version="1.0.0", out=tmp_path / "out", task="automatic-speech-recognition"
        )
    folder = save_wav2vec2(tmp_path / "w2v")
    with pytest.raises(InvalidRequestError, match="fp32"):
        package(folder, name="x", version="1.0.0", out=tmp_path / "out", quantize="int4")
    long = tmp_path / "long"
    long.mkdir()
    (long / "long.flac").write_bytes(encode(chirp(31.0), 16000, "FLAC"))
    with pytest.raises(InvalidRequestError, match="at most 30 s"):
        package(folder, name="x", version="1.0.0", out=tmp_path / "out", sample=long)
    assert not (tmp_path / "out" / "x-1.0.0").exists()


def test_an_english_only_whisper_packages_and_serves(tmp_path: Path) -> None:
    from handlers.settings import Settings
    from handlers.speech.runtime import load_speech

    folder = save_whisper(tmp_path / "whisper-en", multilingual=False)
    sample = [encode(speech(2.0), 16000, "WAV")]
    result = package(folder, name="whisper-en", version="1.0.0", out=tmp_path / "out", sample=sample)
    spec = result.manifest.speech
    assert spec is not None and spec.whisper is not None and not spec.whisper.multilingual
    assert spec.whisper.language_tokens == {} and spec.whisper.transcribe_token_id is None
    runtime = load_speech(result.directory, Settings.load(environ={}, access_log=False, metrics="none"))
    stored = str(np.load(result.directory / "samples.npz")[f"output/{TRANSCRIPT_KEY}"][0])
    assert runtime.transcribe(sample[0])["text"] == stored
    assert runtime.transcribe(sample[0], language="en")["language"] == "en"


def test_int8_is_gated_on_the_word_error_rate_it_records(tmp_path: Path) -> None:
    from handlers.settings import Settings
    from handlers.speech.runtime import load_speech
    from model_packager.speech import package_speech

    folder = save_wav2vec2(tmp_path / "w2v")
    result = package_speech(
        folder, name="ctc8", version="1.0.0", out=tmp_path / "out", quantize="int8", max_word_error_rate=1.0
    )  # random weights: int8 may change any word
    spec = result.manifest.speech
    assert spec is not None and spec.precision == "int8" and spec.parity.max_word_error_rate == 1.0
    assert any(note.startswith("int8: word error rate") for note in result.notes)
    assert result.manifest.parity.checks[0].tolerance == 0.0
    import onnx

    graph = onnx.load(str(result.directory / "model.onnx"))
    assert any(node.op_type in {"MatMulInteger", "DynamicQuantizeMatMul"} for node in graph.graph.node)
    runtime = load_speech(result.directory, Settings.load(environ={}, access_log=False, metrics="none"))
    assert runtime.ready  # the warm-up judged the int8 transcripts with the recorded bound
    with pytest.raises(InvalidRequestError, match="fp16"):
        package(folder, name="x", version="1.0.0", out=tmp_path / "out", precision="fp16")


def test_verify_and_the_repository_load_a_speech_bundle(tmp_path: Path) -> None:
    """``maaskit verify`` judges a CTC bundle through the one judge; ``serve``'s loader serves it."""
    from handlers.engine import ModelRepository
    from handlers.settings import Settings
    from model_packager.verify import verify_bundle

    folder = save_wav2vec2(tmp_path / "w2v")
    result = runner.invoke(
        app, ["package", str(folder), "--name", "heard", "--version", "1.0.0", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    verified = verify_bundle(tmp_path / "out" / "heard-1.0.0.tar.gz")
    assert verified.passed, verified.steps
    repository = ModelRepository.load(Settings.load(environ={}), [tmp_path / "out" / "heard-1.0.0"])
    runtime = repository.get("heard")
    assert runtime.ready and runtime.manifest.task == "automatic-speech-recognition"
