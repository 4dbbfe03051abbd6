"""The screened output layer of an fp32 Whisper bundle: bounds that hold, exact candidates, the same transcripts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import pytest

pytest.importorskip("transformers")

from bundle import open_bundle
from handlers.settings import Settings
from handlers.speech.runtime import load_speech
from model_packager.api import package
from tests.speechmodels import encode, save_whisper, speech


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("screen")
    folder = save_whisper(root / "whisper", max_target_positions=448)
    sample = [encode(speech(3.0), 16000, "FLAC")]
    return package(folder, name="screened", version="1.0.0", out=root / "out", sample=sample).directory


def _feed(session: object, rng: np.random.Generator, past: int) -> dict[str, np.ndarray]:
    feed: dict[str, np.ndarray] = {}
    for spec in session.get_inputs():  # type: ignore[attr-defined]
        if spec.name == "input_ids":
            feed[spec.name] = rng.integers(0, 1000, (1, 1 + past % 3), dtype=np.int64)  # the last one is screened
        elif spec.name == "full_logits":
            continue
        else:
            heads, dim = spec.shape[1], spec.shape[3]
            length = 1500 if spec.name.startswith("cross_") else past
            feed[spec.name] = (rng.standard_normal((1, heads, length, dim)) * 2).astype(np.float32)
    return feed


def test_screened_steps_bound_every_other_token_and_give_exact_candidates(whisper_dir: Path) -> None:
    bundle = open_bundle(whisper_dir)
    whisper = bundle.manifest.speech.whisper  # type: ignore[union-attr]
    begin = whisper.timestamp_begin
    session = onnxruntime.InferenceSession(str(whisper_dir / "decoder.onnx"), providers=["CPUExecutionProvider"])
    names = ["logits", "candidate_ids", "candidate_logits", "rest_upper", "stamp_logits"]
    rng = np.random.default_rng(0)
    for trial in range(20):
        feed = _feed(session, rng, past=trial % 7)
        logits = session.run(["logits"], {**feed, "full_logits": np.asarray(True)})[0][0, -1]
        _, ids, exact, rest, stamps = session.run(names, {**feed, "full_logits": np.asarray(False)})
        ids, exact = ids[0], exact[0]
        np.testing.assert_allclose(exact, logits[ids], rtol=0, atol=1e-4)
        np.testing.assert_allclose(stamps[0], logits[begin:], rtol=0, atol=1e-4)
        others = np.setdiff1d(np.arange(begin), ids)
        assert logits[others].max() <= rest[0, 0]  # the bound holds for every text token not computed
        assert len(set(ids.tolist())) == ids.size and ids.max() < begin


@pytest.mark.parametrize("timestamps", [False, True])
def test_screened_and_full_logits_decode_the_same_tokens(whisper_dir: Path, timestamps: bool) -> None:
    runtime = load_speech(whisper_dir, Settings.load(environ={}, access_log=False, metrics="none"))
    decoder = runtime.engine.decoder  # type: ignore[attr-defined]
    assert decoder._decoder_graph().screened  # steps are screened on CPU
    steps = 0
    for seed in range(4):
        audio = speech(6.0 + seed, seed=seed + 40)
        decoder.full_reruns = 0
        screened = decoder.transcribe(audio, timestamps=timestamps)
        reruns = decoder.full_reruns
        full = decoder.transcribe(audio, timestamps=timestamps, logprobs=True)  # every step's full logits
        tokens = [[t for s in transcript.segments for t in s.tokens] for transcript in (screened, full)]
        assert tokens[0] == tokens[1] and screened.text == full.text
        assert all(s.avg_logprob is None for s in screened.segments)
        assert all(s.avg_logprob is not None and s.avg_logprob < 0 for s in full.segments)
        steps += len(tokens[0])
        assert reruns < len(tokens[0]) / 2


def test_int8_bundles_have_no_screen(tmp_path: Path) -> None:
    folder = save_whisper(tmp_path / "whisper")
    result = package(folder, name="w8", version="1.0.0", out=tmp_path / "out", quantize="int8",
                     sample=[encode(speech(3.0), 16000, "FLAC")])  # fmt: skip
    session = onnxruntime.InferenceSession(str(result.directory / "decoder.onnx"), providers=["CPUExecutionProvider"])
    assert "full_logits" not in {spec.name for spec in session.get_inputs()}


def test_earlier_text_runs_screened_and_the_prompt_logits_stay(whisper_dir: Path) -> None:
    """A later window's prompt: the previous text gets no logits, the rest the logits of one full pass."""
    runtime = load_speech(whisper_dir, Settings.load(environ={}, access_log=False, metrics="none"))
    decoder = runtime.engine.decoder  # type: ignore[attr-defined]
    cross = decoder.encode(speech(4.0, seed=5))
    previous = [int(t) for t in np.random.default_rng(1).integers(0, decoder.spec.eos_token_id, 40)]
    prompt, _ = decoder.prompt(cross, "en", "transcribe", True, previous)
    start = prompt.index(decoder.spec.start_token_id)
    assert start > 0
    whole, whole_cache = decoder._run(prompt, None, cross)
    split, split_cache = decoder._prompt_logits(prompt, cross)
    np.testing.assert_allclose(split, whole[start:], rtol=0, atol=1e-4)
    for ours, theirs in zip(split_cache, whole_cache, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


def test_the_output_layer_is_stored_once(whisper_dir: Path) -> None:
    """The output layer is the tied token embedding: one fp32 [vocab, d_model] table in the file, not two."""
    import onnx

    bundle = open_bundle(whisper_dir)
    vocab = bundle.manifest.speech.whisper.vocab_size  # type: ignore[union-attr]
    graph = onnx.load(str(whisper_dir / "decoder.onnx")).graph
    tables = [
        i.name
        for i in graph.initializer
        if i.data_type == onnx.TensorProto.FLOAT and len(i.dims) == 2 and vocab in i.dims
    ]
    assert len(tables) == 1, tables


def test_an_untied_output_layer_keeps_the_full_logits(tmp_path: Path) -> None:
    """A fine-tune whose output layer is not its embedding gets no screen; it serves on the full logits."""
    import torch
    import transformers

    folder = save_whisper(tmp_path / "whisper")
    model = transformers.WhisperForConditionalGeneration.from_pretrained(str(folder))
    model.config.tie_word_embeddings = False
    model.proj_out.weight = torch.nn.Parameter(model.proj_out.weight.detach().clone() * 1.5)
    model.save_pretrained(folder)
    result = package(folder, name="untied", version="1.0.0", out=tmp_path / "out",
                     sample=[encode(speech(3.0), 16000, "FLAC")])  # fmt: skip
    session = onnxruntime.InferenceSession(str(result.directory / "decoder.onnx"), providers=["CPUExecutionProvider"])
    assert "full_logits" not in {spec.name for spec in session.get_inputs()}
    runtime = load_speech(result.directory, Settings.load(environ={}, access_log=False, metrics="none"))
    assert runtime.ready and not runtime.engine.decoder._decoder_graph().screened  # type: ignore[attr-defined]
