"""The Lambda zip ships the runtime modules that import there, and only those.

The asset is staged as synthesis stages it (:func:`infra.packaging.stage_lambda_code` under CDK local
bundling), then every shipped module is imported by an isolated interpreter (``-I -S``: no
site-packages, no repository) that sees only the asset (``/var/task``) and the real dependency layer
(``/opt/python``), as Lambda would; there it also decodes an MP3 with the libsndfile of the soundfile wheel
and resamples it with soxr (what a speech bundle needs), never a library of the machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from aws_cdk import DockerImage

from infra.packaging import (
    LAMBDA_LEFT_OUT,
    LocalStaging,
    dependency_dir,
    lambda_requirements,
    stage_lambda_code,
)
from tests.infra.conftest import HOST_ARCH, REPO_ROOT

_IMPORT_ALL = """
import importlib, json, os, sys, traceback
task_root, layer = sys.argv[1], sys.argv[2]
sys.path[:0] = [task_root, layer]
modules, failed = [], {}
for package in ("bundle", "handlers"):
    for folder, _, files in sorted(os.walk(os.path.join(task_root, package))):
        for name in sorted(files):
            if name.endswith(".py") and name != "__main__.py":  # a __main__ runs its program when imported
                relative = os.path.relpath(os.path.join(folder, name), task_root)[:-3]
                modules.append(relative.replace(os.sep, ".").removesuffix(".__init__"))
for module in modules:
    try:
        loaded = importlib.import_module(module)
        assert loaded.__file__.startswith(task_root), loaded.__file__
    except BaseException:
        failed[module] = traceback.format_exc(limit=3)
audio = {}
try:  # speech bundles: libsndfile from the soundfile wheel, soxr, the multipart parser of the OpenAI route
    import io, numpy, soundfile, soxr, python_multipart, _soundfile_data
    from bundle.processing.audio import decode_audio
    buffer = io.BytesIO()
    soundfile.write(buffer, numpy.zeros(44100, numpy.float32), 44100, format="MP3")
    audio["samples"] = len(decode_audio(buffer.getvalue(), 16000).samples)
    with open("/proc/self/maps") as maps:
        audio["libsndfile"] = sorted({line.split()[-1] for line in maps if "libsndfile" in line})
    audio["files"] = [module.__file__ for module in (soundfile, soxr, python_multipart, _soundfile_data)]
except BaseException:
    audio["error"] = traceback.format_exc(limit=3)
from bundle.version import maaskit_version
print(json.dumps({"modules": modules, "failed": failed, "audio": audio, "version": maaskit_version()}))
"""


@pytest.fixture(scope="module")
def staged_asset(tmp_path_factory: pytest.TempPathFactory, bundles: dict[str, Path]) -> Path:
    out = tmp_path_factory.mktemp("lambda-asset")
    staging = LocalStaging(lambda target: stage_lambda_code(target, REPO_ROOT, bundles["iris"]))
    assert staging.try_bundle(str(out), image=DockerImage.from_registry("unused"))
    return out


def test_asset_holds_the_runtime_the_bundle_package_and_the_version(staged_asset: Path):
    assert (staged_asset / "handlers" / "lambda_entry.py").is_file()
    assert (staged_asset / "bundle" / "manifest.py").is_file()
    assert (staged_asset / "bundle" / "__pycache__").is_dir()
    assert (staged_asset / "pyproject.toml").read_bytes() == (REPO_ROOT / "pyproject.toml").read_bytes()
    assert (staged_asset / "bundles" / "iris-1.0.0" / "manifest.json").is_file()
    for relative in LAMBDA_LEFT_OUT:
        assert not (staged_asset / relative).exists(), f"{relative} ships but is not the Lambda target's"
    assert not (staged_asset / "maaskit").exists() and not (staged_asset / "infra").exists()


def test_every_shipped_module_imports_with_only_the_asset_and_the_layer(staged_asset: Path, tmp_path: Path):
    cache = REPO_ROOT / ".maaskit" / "cache"
    layer = dependency_dir(lambda_requirements(REPO_ROOT), HOST_ARCH, cache)  # type: ignore[arg-type]
    script = tmp_path / "import_all.py"
    script.write_text(_IMPORT_ALL)
    env = {
        "LAMBDA_TASK_ROOT": str(staged_asset),
        "MAASKIT_BUNDLES": str(staged_asset / "bundles"),
        "MAASKIT_ACCESS_LOG": "false",
        "PATH": "/usr/bin:/bin",
    }
    interpreter = shutil.which("python3.11") or sys.executable
    command = [interpreter, "-I", "-S", str(script), str(staged_asset), str(layer / "python")]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"handlers.lambda_entry", "handlers.app", "bundle.wire", "bundle.names"} <= set(report["modules"])
    assert report["failed"] == {}, "\n".join(f"{name}:\n{trace}" for name, trace in report["failed"].items())
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert report["version"] == declared
    audio = report["audio"]
    assert "error" not in audio, audio.get("error")
    assert 15000 <= audio["samples"] <= 17000  # one second of MP3 decoded and resampled to 16 kHz
    layer_root = str(layer / "python")
    assert audio["libsndfile"] and all(path.startswith(layer_root) for path in audio["libsndfile"]), audio
    assert all(path.startswith(layer_root) for path in audio["files"]), audio["files"]
