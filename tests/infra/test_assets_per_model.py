"""Every function carries its own model (issue 20): one stage, several Lambda models of different kinds.

Three zip functions (a classifier, a regressor, an image classifier) and two container-image functions
(two more tabular models) are synthesized once; each function's asset in ``cdk.out`` must hold its own
bundle (by manifest name and sha256) and each pre-traffic hook its own manifest and samples. Before the
fix, CDK's asset cache handed every function the first staging and every hook the first model's samples.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.infra.conftest import Synth, synthesize

pytestmark = pytest.mark.slow

ZIP_MODELS = ("iris", "diabetes", "pets")
IMAGE_MODELS = ("flowers", "sugar")


def _sklearn_bundle(out: Path, name: str, kind: str) -> Path:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_diabetes, load_iris
    from sklearn.linear_model import LogisticRegression, Ridge

    from model_packager import package

    if kind == "classifier":
        data = load_iris()
        x = data.data.astype(np.float32)
        model: Any = LogisticRegression(max_iter=500).fit(x, data.target)
        onx = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset=17)
    else:
        data = load_diabetes()
        x = data.data.astype(np.float32)
        onx = to_onnx(Ridge().fit(x, data.target), x[:1], target_opset=17)
    return package(onx, name=name, version="1.0.0", sample={"X": x[::19][:8]}, out=out, force=True).directory


def _image_bundle(out: Path, name: str) -> Path:
    pytest.importorskip("torch")
    from model_packager import ImageClassifier, ImagePreprocessing, package
    from tests.imagemodels import LABELS, tiny_convnet

    module = ImageClassifier(tiny_convnet(), ImagePreprocessing(resize=40, crop=32), LABELS)
    return package(module, name=name, version="1.0.0", out=out).directory


@pytest.fixture(scope="module")
def stage_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("several-models")
    return {
        "iris": _sklearn_bundle(out, "iris", "classifier"),
        "diabetes": _sklearn_bundle(out, "diabetes", "regressor"),
        "pets": _image_bundle(out, "pets"),
        "flowers": _sklearn_bundle(out, "flowers", "classifier"),
        "sugar": _sklearn_bundle(out, "sugar", "regressor"),
    }


@pytest.fixture(scope="module")
def several(tmp_path_factory: pytest.TempPathFactory, stage_bundles: dict[str, Path]) -> Synth:
    endpoints: list[dict[str, Any]] = [
        {"name": name, "bundle": str(stage_bundles[name]), "target": "lambda"} for name in ZIP_MODELS
    ]
    endpoints += [
        {"name": name, "bundle": str(stage_bundles[name]), "target": "lambda", "lambda": {"package": "image"}}
        for name in IMAGE_MODELS
    ]
    return synthesize(tmp_path_factory.mktemp("several"), {"endpoints": endpoints}, stage="dev")


def _asset_dir(synth: Synth, function_name: str) -> Path:
    """The cdk.out directory a function's code was staged into, found through the stack's asset manifest."""
    (manifest_path,) = synth.outdir.glob(f"{synth.stack.stack_name}.assets.json")
    manifest = json.loads(manifest_path.read_text())
    for resource in synth.resources("AWS::Lambda::Function").values():
        if resource["Properties"].get("FunctionName") != function_name:
            continue
        code = resource["Properties"]["Code"]
        if "S3Key" in code:
            source = manifest["files"][code["S3Key"].removesuffix(".zip")]["source"]["path"]
        else:
            tag = json.dumps(code["ImageUri"]).rsplit(":", 1)[1].split('"')[0]
            source = manifest["dockerImages"][tag]["source"]["directory"]
        return synth.outdir / str(source)
    raise AssertionError(f"no function {function_name}")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _bundle_in(asset: Path) -> Path:
    bundles = sorted((asset / "bundles").iterdir())
    assert len(bundles) == 1, f"{asset} holds {[b.name for b in bundles]}"
    return bundles[0]


@pytest.mark.parametrize("model", ZIP_MODELS + IMAGE_MODELS)
def test_each_function_asset_holds_its_own_bundle(several: Synth, stage_bundles: dict[str, Path], model: str):
    asset = _asset_dir(several, f"maaskit-dev-{model}")
    staged = _bundle_in(asset)
    manifest = json.loads((staged / "manifest.json").read_text())
    assert manifest["name"] == model
    assert _sha(staged / "manifest.json") == _sha(stage_bundles[model] / "manifest.json")
    assert _sha(staged / "model.onnx") == _sha(stage_bundles[model] / "model.onnx")


@pytest.mark.parametrize("model", ZIP_MODELS + IMAGE_MODELS)
def test_each_hook_asset_holds_its_own_samples(several: Synth, stage_bundles: dict[str, Path], model: str):
    asset = _asset_dir(several, f"maaskit-dev-{model}-pre-traffic")
    assert json.loads((asset / "manifest.json").read_text())["name"] == model
    for name in ("manifest.json", "samples.npz"):
        assert _sha(asset / name) == _sha(stage_bundles[model] / name), name


def test_one_asset_per_model_and_function(several: Synth):
    names = [f"maaskit-dev-{m}" for m in ZIP_MODELS + IMAGE_MODELS]
    functions = {_asset_dir(several, name) for name in names}
    hooks = {_asset_dir(several, f"{name}-pre-traffic") for name in names}
    assert len(functions) == len(names)
    assert len(hooks) == len(names)


def test_image_functions_name_distinct_images(several: Synth):
    uris = [
        json.dumps(r["Properties"]["Code"]["ImageUri"])
        for r in several.resources("AWS::Lambda::Function").values()
        if "ImageUri" in r["Properties"]["Code"]
    ]
    assert len(uris) == len(IMAGE_MODELS)
    assert len(set(uris)) == len(uris)


def test_asset_keys_follow_the_bundle_and_nothing_else(stage_bundles: dict[str, Path]):
    """The same inputs give the same key (no new Lambda version on a re-synth); another bundle another key."""
    from infra.bundles import resolve_bundle
    from infra.constructs.assets import hook_asset_hash
    from infra.packaging import code_asset_hash
    from tests.infra.conftest import REPO_ROOT

    digests = {
        name: resolve_bundle(str(path), name, path.parent, path.parent / "build").digest
        for name, path in stage_bundles.items()
    }
    assert code_asset_hash(REPO_ROOT, digests["iris"]) == code_asset_hash(REPO_ROOT, digests["iris"])
    assert len({code_asset_hash(REPO_ROOT, d) for d in digests.values()}) == len(digests)
    assert len({hook_asset_hash(d) for d in digests.values()}) == len(digests)
    assert hook_asset_hash(digests["iris"]) == hook_asset_hash(digests["iris"])


def test_stage_with_several_models_passes_cdk_nag(several: Synth):
    assert several.violations() == []


def _s3_key(synth: Synth, function_name: str) -> str:
    for resource in synth.resources("AWS::Lambda::Function").values():
        if resource["Properties"].get("FunctionName") == function_name:
            return str(resource["Properties"]["Code"]["S3Key"])
    raise AssertionError(f"no function {function_name}")


def test_asset_hashes_are_stable_across_syntheses(
    several: Synth, stage_bundles: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
):
    """Another synthesis (another cdk.out, the model alone) names the same assets: no new version per synth."""
    alone = synthesize(
        tmp_path_factory.mktemp("alone"), {"endpoints": [{"name": "pets", "bundle": str(stage_bundles["pets"])}]}, "dev"
    )
    for name in ("maaskit-dev-pets", "maaskit-dev-pets-pre-traffic"):
        assert _s3_key(alone, name) == _s3_key(several, name)


def test_stage_with_several_models_passes_cfn_lint(several: Synth):
    import subprocess
    import sys

    template = several.outdir / f"{several.stack.stack_name}.template.json"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert [line for line in result.stdout.splitlines() if ":E" in line] == [], result.stdout
    assert result.returncode in (0, 4, 8), result.stderr  # 4/8: warnings/informational only
