"""More speech architectures: HuBERT and WavLM CTC detection, and audio classifiers packaged and judged.

(Serving them over HTTP against transformers' pipelines: ``tests/handlers/speech/test_more_models.py``.)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("soundfile")

from typer.testing import CliRunner

from bundle import open_bundle
from bundle.judge import Answer, RawSamples, judge, local_runner
from maaskit.cli import app
from model_packager.api import package
from model_packager.job import InvalidRequestError
from model_packager.speech import wants_speech
from model_packager.speech.classify import audio_classifier_architecture
from model_packager.speech.source import speech_architecture
from tests.speechmodels import AUDIO_LABELS, encode, save_audio_classifier, speech

runner = CliRunner()


def _config(folder: Path, architecture: str, model_type: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"architectures": [architecture], "model_type": model_type}))
    return folder


@pytest.mark.parametrize(
    ("architecture", "model_type", "ctc", "classifier"),
    [
        ("HubertForCTC", "hubert", "HubertForCTC", None),
        ("WavLMForCTC", "wavlm", "WavLMForCTC", None),
        ("Wav2Vec2ForSequenceClassification", "wav2vec2", None, "Wav2Vec2ForSequenceClassification"),
        ("HubertForSequenceClassification", "hubert", None, "HubertForSequenceClassification"),
        ("WavLMForSequenceClassification", "wavlm", None, "WavLMForSequenceClassification"),
        ("ASTForAudioClassification", "audio-spectrogram-transformer", None, "ASTForAudioClassification"),
        ("BertForSequenceClassification", "bert", None, None),  # a text classifier is not audio
    ],
)
def test_detection_from_config_architectures(
    tmp_path: Path, architecture: str, model_type: str, ctc: str | None, classifier: str | None
) -> None:
    folder = _config(tmp_path / "m", architecture, model_type)
    assert speech_architecture(folder) == ctc
    assert audio_classifier_architecture(folder) == classifier
    assert wants_speech(folder, None) is (ctc is not None or classifier is not None)


def test_ast_is_refused_with_the_reason(tmp_path: Path) -> None:
    folder = _config(tmp_path / "ast", "ASTForAudioClassification", "audio-spectrogram-transformer")
    with pytest.raises(InvalidRequestError, match="Kaldi filter-bank"):
        package(folder, name="ast", version="1.0.0", out=tmp_path / "out")


@pytest.fixture(scope="module")
def classifier_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_audio_classifier(tmp_path_factory.mktemp("audio-classifier") / "w2v-cls", "wav2vec2")


def test_cli_packages_an_audio_classifier_with_its_labels(classifier_folder: Path, tmp_path: Path) -> None:
    args = ["package", str(classifier_folder), "--name", "cls", "--version", "1.0.0", "--out", str(tmp_path / "out")]
    result = runner.invoke(app, [*args, "--task", "audio-classification"])
    assert result.exit_code == 0, result.output
    assert "detected Wav2Vec2ForSequenceClassification (3 labels from id2label)" in result.output
    assert "packaging for audio-classification" in result.output and "built-in synthetic audio" in result.output
    bundle = open_bundle(tmp_path / "out" / "cls-1.0.0")
    manifest = bundle.manifest
    assert manifest.task == "audio-classification" and manifest.labels == list(AUDIO_LABELS)
    assert (manifest.label_output, manifest.probability_output) == ("label", "scores")
    assert [i.name for i in manifest.inputs] == ["input_values"] and manifest.inputs[0].shape == [None, None]
    assert [o.name for o in manifest.outputs] == ["logits", "scores", "label"]
    spec = manifest.speech
    assert spec is not None and spec.kind == "classifier" and spec.features.normalize
    assert spec.parity.label_agreement == 1.0 and spec.parity.output_max_abs <= spec.parity.output_tolerance
    checks = {(c.output, c.metric): c for c in manifest.parity.checks}
    assert checks["label", "label_agreement"].passed and checks["scores", "max_abs_diff"].tolerance == 1e-4
    samples = bundle.samples()
    assert samples.inputs["input_values"].shape == (3, 2 * 16000)  # cut to SAMPLE_SECONDS (2 s)
    assert samples.outputs["scores"].shape == (3, 3)
    np.testing.assert_allclose(samples.outputs["scores"].sum(axis=1), 1.0, atol=1e-6)

    verdict = judge(manifest, bundle.root, samples, local_runner(manifest, bundle.root))  # what verify runs
    assert verdict.passed, verdict.problems

    def wrong(raw: RawSamples) -> Answer:
        outputs = local_runner(manifest, bundle.root)(raw)
        assert isinstance(outputs, Answer)
        return Answer({**outputs.outputs, "scores": outputs.outputs["scores"] + 0.01})

    failed = judge(manifest, bundle.root, samples, wrong)
    assert not failed.passed and "scores" in failed.problems[0]


def test_a_model_object_with_its_feature_extractor_packages_from_sample_files(
    classifier_folder: Path, tmp_path: Path
) -> None:
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    model = AutoModelForAudioClassification.from_pretrained(str(classifier_folder))
    extractor = AutoFeatureExtractor.from_pretrained(str(classifier_folder))
    clips = [encode(speech(1.5, 16000, seed=2), 16000, "FLAC"), encode(speech(2.0, 8000, seed=4), 8000, "WAV")]
    result = package(model, tokenizer=extractor, name="obj", version="1.0.0", out=tmp_path / "out", sample=clips)
    assert result.manifest.task == "audio-classification" and len(result.notes) == 1
    assert result.manifest.speech is not None and not result.manifest.speech.parity.synthetic
    assert open_bundle(result.directory).samples().inputs["input_values"].shape == (2, int(1.5 * 16000))
    with pytest.raises(InvalidRequestError, match="fp32"):
        package(classifier_folder, name="q", version="1.0.0", out=tmp_path / "out", quantize="int8")
