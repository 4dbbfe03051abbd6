"""Prove the Lambda artifact, not only the template: run what synthesis staged in cdk.out in an
isolated interpreter that sees only the function asset (``/var/task``) and the dependency layer
(``/opt/python``), as Lambda would, and check its answers against the bundle's samples."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from infra.hook.pre_traffic import load_cases, request_batches
from infra.packaging import LAMBDA_UNZIPPED_LIMIT, tree_size
from tests.infra.conftest import REPO_ROOT, Synth

pytestmark = pytest.mark.slow

EVENTS = REPO_ROOT / "tests" / "events"
STORED_EVENTS = ["apigw_v1_predict.json", "apigw_v2_predict.json"]
# Rows in the stored events are samples 0, 4 and 6 of the iris bundle (see tests/events/README.md).
EVENT_ROWS = [0, 4, 6]

_RUNNER = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import handlers.lambda_entry as entry
assert entry.__file__.startswith(sys.argv[1]), entry.__file__
import numpy
assert numpy.__file__.startswith(sys.argv[2]), numpy.__file__
answers = []
for path in sys.argv[3:]:
    with open(path) as stream:
        answers.append(entry.handler(json.load(stream), None))
print(json.dumps(answers))
"""


# The pre-traffic hook's own asset, judging the answers with the bundle package it ships.
_HOOK_RUNNER = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import pre_traffic, bundle
assert pre_traffic.__file__.startswith(sys.argv[1]) and bundle.__file__.startswith(sys.argv[1])
manifest, samples = pre_traffic.load_cases()
with open(sys.argv[3]) as stream:
    answers = json.load(stream)  # the whole Lambda answers: OIP bodies, base64 when binary
print(json.dumps(pre_traffic.compare(manifest, samples, answers)))
"""


def _asset_dir(synth: Synth, code: dict) -> Path:
    key = code["S3Key"]
    return synth.outdir / f"asset.{key.removesuffix('.zip')}"


@pytest.fixture(scope="module")
def artifact(custom_synth: Synth) -> tuple[Path, Path]:
    functions = custom_synth.resources("AWS::Lambda::Function").values()
    function = next(f["Properties"] for f in functions if f["Properties"].get("FunctionName") == "maaskit-prod-iris")
    layer = custom_synth.one("AWS::Lambda::LayerVersion")["Properties"]
    return _asset_dir(custom_synth, function["Code"]), _asset_dir(custom_synth, layer["Content"])


@pytest.fixture(scope="module")
def hook_asset(custom_synth: Synth) -> Path:
    functions = custom_synth.resources("AWS::Lambda::Function").values()
    hook = next(
        f["Properties"] for f in functions if f["Properties"].get("FunctionName") == "maaskit-prod-iris-pre-traffic"
    )
    return _asset_dir(custom_synth, hook["Code"])


def _run_isolated(task_root: Path, layer: Path, args: list[Path], cwd: Path, runner: str = _RUNNER) -> list:
    interpreter = shutil.which("python3.11") or sys.executable
    script = cwd / "run_isolated.py"
    script.write_text(runner)
    env = {"LAMBDA_TASK_ROOT": str(task_root), "MAASKIT_BUNDLES": str(task_root / "bundles"), "PATH": "/usr/bin:/bin"}
    command = [interpreter, "-I", "-S", str(script), str(task_root), str(layer / "python"), *map(str, args)]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    answer: list = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def test_artifact_layout_and_size(artifact: tuple[Path, Path]):
    task_root, layer = artifact
    assert (task_root / "handlers" / "lambda_entry.py").is_file()
    assert list(task_root.glob("handlers/__pycache__/lambda_entry.cpython-311.pyc"))
    assert (task_root / "bundles" / "iris-1.0.0" / "manifest.json").is_file()
    assert not (task_root / "handlers" / "docker").exists()
    assert (layer / "python" / "onnxruntime").is_dir() and (layer / "python" / "numpy").is_dir()
    assert not list((layer / "python").glob("*/tests"))
    size = tree_size(task_root) + tree_size(layer)
    print(f"\nLambda artifact unzipped: {size / 2**20:.1f} MB of {LAMBDA_UNZIPPED_LIMIT / 2**20:.0f} MB")
    assert size < LAMBDA_UNZIPPED_LIMIT


def test_staged_artifact_answers_stored_api_gateway_events(artifact, hook_asset, bundles, tmp_path):
    from bundle import open_bundle

    task_root, layer = artifact
    samples = open_bundle(bundles["iris"]).samples()
    hook_events = []
    for index, event in enumerate(request_batches(*load_cases(hook_asset))):
        hook_events.append(tmp_path / f"hook_event_{index}.json")
        hook_events[-1].write_text(json.dumps(event))
    events = [EVENTS / name for name in STORED_EVENTS] + hook_events
    answers = _run_isolated(task_root, layer, events, tmp_path)
    for answer in answers[: len(STORED_EVENTS)]:
        assert answer["statusCode"] == 200, answer
        outputs = json.loads(answer["body"])["outputs"]
        np.testing.assert_allclose(
            np.asarray(outputs["probabilities"]), samples.outputs["probabilities"][EVENT_ROWS], atol=1e-4
        )
        assert np.asarray(outputs["label"]).tolist() == samples.outputs["label"][EVENT_ROWS].tolist()
    # The requests the pre-traffic hook sends, judged by the hook's staged asset on the same layer.
    hook_answers = answers[len(STORED_EVENTS) :]
    assert all(answer["statusCode"] == 200 for answer in hook_answers), hook_answers
    (tmp_path / "hook_answers.json").write_text(json.dumps(hook_answers))
    assert _run_isolated(hook_asset, layer, [tmp_path / "hook_answers.json"], tmp_path, _HOOK_RUNNER) == []
