"""Reading a saved folder: which task it serves and how it pools, from its JSON files alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from model_packager.converters.base import UnsupportedModelError
from model_packager.converters.transformers_folder import (
    TaskDetectionError,
    detect_task,
    pooling_from_config,
    read_folder,
)

pytestmark = pytest.mark.torch


def test_tasks_are_detected_from_what_the_folder_holds(st_folder, classifier_folder, token_folder) -> None:
    assert detect_task(read_folder(st_folder))[0] == "feature-extraction"
    assert detect_task(read_folder(classifier_folder)) == (
        "text-classification",
        "architectures ['BertForSequenceClassification']",
    )
    assert detect_task(read_folder(token_folder))[0] == "token-classification"


def test_a_bare_encoder_is_ambiguous_and_asks_for_task(base_folder) -> None:
    with pytest.raises(TaskDetectionError, match="pass --task with one of feature-extraction"):
        detect_task(read_folder(base_folder))


@pytest.mark.parametrize(
    ("config", "pooling"),
    [
        ({"pooling_mode": "mean", "include_prompt": True}, "mean"),
        ({"pooling_mode": "cls"}, "cls"),
        ({"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}, "mean"),  # sentence-transformers < 6
        ({"pooling_mode_cls_token": True, "pooling_mode_max_tokens": False}, "cls"),
    ],
)
def test_pooling_configs_old_and_new(config, pooling) -> None:
    assert pooling_from_config(config, "1_Pooling/config.json") == pooling


@pytest.mark.parametrize(
    "config",
    [{"pooling_mode": "max"}, {"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True}],
)
def test_pooling_maaskit_cannot_export_is_refused(config) -> None:
    with pytest.raises(UnsupportedModelError, match="mean or CLS"):
        pooling_from_config(config, "1_Pooling/config.json")


def test_unsupported_sentence_transformers_modules_are_named(st_folder, tmp_path: Path) -> None:
    folder = shutil.copytree(st_folder, tmp_path / "st-dense")
    modules = json.loads((folder / "modules.json").read_text())
    modules.append({"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"})
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(UnsupportedModelError, match=r"\['Dense'\] cannot be exported"):
        read_folder(folder)
