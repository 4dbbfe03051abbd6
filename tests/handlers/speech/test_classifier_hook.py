"""The pre-traffic hook on an audio classifier: its stored waveforms go to the new version as OIP ``FP32``
``input_values``, and the class probabilities and labels it answers are judged by the one judge.

The "new version" is the real Lambda handler serving the bundle in-process (as in ``tests/infra/test_speech_hook.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("soundfile")

from infra.hook import pre_traffic
from infra.samples import stage_hook_asset
from tests.infra.test_speech_hook import _LocalLambda
from tests.speechmodels import save_audio_classifier


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Version 1.0.0 and a 1.1.0 with other weights, of the same tiny audio classifier."""
    from model_packager import package

    root = tmp_path_factory.mktemp("classifier-hook")
    good = package(save_audio_classifier(root / "a", seed=0), name="cls", version="1.0.0", out=root / "b")
    other = package(save_audio_classifier(root / "c", seed=7), name="cls", version="1.1.0", out=root / "b")
    return {"good": good.directory, "other": other.directory}


@pytest.fixture(scope="module")
def staged(versions: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("hook")
    stage_hook_asset(out, versions["good"])
    yield out


def test_the_hook_passes_the_classifier_it_was_staged_with(versions: dict[str, Path], staged: Path) -> None:
    manifest, samples = pre_traffic.load_cases(staged)
    assert manifest.task == "audio-classification"
    client = _LocalLambda(versions["good"])
    assert pre_traffic._check(client, "cls:2", manifest, samples, staged) == []
    assert client.calls >= 1


def test_the_hook_fails_a_classifier_whose_weights_differ(versions: dict[str, Path], staged: Path) -> None:
    manifest, samples = pre_traffic.load_cases(staged)
    problems = pre_traffic._check(_LocalLambda(versions["other"]), "cls:3", manifest, samples, staged)
    assert problems and any(name in problems[0] for name in ("label", "scores", "logits")), problems
