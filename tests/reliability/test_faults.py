"""Faults as real scenarios: bad bundles refused by ``maaskit serve``, a model that fails inside onnxruntime,
and a disk that fills up while packaging. Each gets a clear error; nothing half-written, nothing unverified served.

The request time budget (``MAASKIT_INFERENCE_TIMEOUT_MS``) is tested in ``test_timeouts.py``.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import tarfile
import uuid
from pathlib import Path

import httpx
import joblib
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from maaskit.cli import app as cli_app
from tests.reliability.faulty import answers, reshape_bundle, run_serve, serving


@pytest.fixture()
def iris_copy(rel_bundles, tmp_path: Path) -> Path:
    """A private copy of the verified iris bundle directory, to damage."""
    return Path(shutil.copytree(rel_bundles.iris, tmp_path / rel_bundles.iris.name))


def _archive(rel_bundles) -> Path:
    return rel_bundles.iris.parent / f"{rel_bundles.iris.name}.tar.gz"


def _refused(bundle: Path, *expected: str) -> str:
    """Run ``maaskit serve`` on ``bundle``: it must exit 2 with ``expected`` in its message and answer nothing."""
    result, port = run_serve(bundle)
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stderr[-3000:]}"
    message = result.stderr.lower()
    assert "error:" in message
    for text in expected:
        assert text.lower() in message, result.stderr[-3000:]
    assert "traceback" not in message, "a refused bundle is a message, not a stack trace"
    assert not answers(port), "no server may be left listening"
    return result.stderr


def test_altered_model_file_is_refused(iris_copy):
    model = iris_copy / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    _refused(iris_copy, "model.onnx", "sha256")


def test_missing_file_is_refused(iris_copy):
    (iris_copy / "samples.npz").unlink()
    _refused(iris_copy, "samples.npz")


def test_manifest_with_unknown_key_is_refused(iris_copy):
    manifest = iris_copy / "manifest.json"
    document = json.loads(manifest.read_text())
    document["serve_without_checks"] = True
    manifest.write_text(json.dumps(document))
    _refused(iris_copy, "serve_without_checks")


def test_truncated_archive_is_refused(rel_bundles, tmp_path):
    data = _archive(rel_bundles).read_bytes()
    truncated = tmp_path / "iris-1.0.0.tar.gz"
    truncated.write_bytes(data[: len(data) // 2])
    _refused(truncated, "iris-1.0.0.tar.gz")


def _archive_with(rel_bundles, tmp_path: Path, extra: tarfile.TarInfo, payload: bytes = b"") -> Path:
    """The valid iris archive plus one hostile member."""
    target = tmp_path / "hostile-1.0.0.tar.gz"
    with tarfile.open(_archive(rel_bundles)) as source, tarfile.open(target, "w:gz") as out:
        for member in source.getmembers():
            out.addfile(member, source.extractfile(member))
        out.addfile(extra, io.BytesIO(payload) if payload else None)
    return target


def test_archive_member_escaping_its_directory_is_refused(rel_bundles, tmp_path):
    name = f"escaped-{uuid.uuid4().hex}.txt"
    member = tarfile.TarInfo(f"../../{name}")
    member.size = 5
    archive = _archive_with(rel_bundles, tmp_path, member, b"owned")
    _refused(archive, "../../")
    for place in (tmp_path, Path("/tmp"), Path.cwd()):
        assert not (place / name).exists(), f"the escaping member was written to {place}"


def test_archive_symlink_member_is_refused(rel_bundles, tmp_path):
    member = tarfile.TarInfo("passwd")
    member.type = tarfile.SYMTYPE
    member.linkname = "/etc/passwd"
    _refused(_archive_with(rel_bundles, tmp_path, member), "passwd")


def test_one_bad_bundle_stops_the_whole_server(rel_bundles, iris_copy):
    """A good bundle next to a bad one: the server refuses to start rather than serve a partial set."""
    (iris_copy / "model.onnx").write_bytes(b"not onnx")
    result, port = run_serve(rel_bundles.adder_v1, iris_copy)
    assert result.returncode == 2, result.stderr[-3000:]
    assert not answers(port)


def test_model_failing_inside_onnxruntime_is_a_422_and_the_server_keeps_serving(tmp_path):
    bundle = reshape_bundle(tmp_path / "bundles")
    with serving(bundle, log=tmp_path / "serve.log") as url, httpx.Client(base_url=url, timeout=10) as http:
        good = {"inputs": {"X": [[1, 2, 3, 4, 5, 6]]}}
        assert http.post("/models/reshaper/predict", json=good).status_code == 200
        for _ in range(3):
            bad = http.post("/models/reshaper/predict", json={"inputs": {"X": [[1, 2, 3, 4]]}})
            assert bad.status_code == 422, bad.text
            assert "reshape" in bad.text.lower(), "the message names what onnxruntime refused"
            oip = http.post(
                "/v2/models/reshaper/infer",
                json={"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]},
            )
            assert oip.status_code == 422, oip.text
        after = http.post("/models/reshaper/predict", json=good)
        assert after.status_code == 200, after.text
        assert after.json()["outputs"]["rows"] == [[1, 2, 3], [4, 5, 6]]
        assert http.get("/ping").status_code == 200


# --- packaging onto a full or failing disk ------------------------------------------------------------


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory) -> Path:
    features, target = load_iris(return_X_y=True)
    path = tmp_path_factory.mktemp("model") / "iris.joblib"
    joblib.dump(LogisticRegression(max_iter=300).fit(features, target), path)
    return path


def _package(model: Path, out: Path):
    args = ["package", str(model), "--name", "iris", "--version", "1.0.0", "--out", str(out)]
    return CliRunner().invoke(cli_app, args)


def _disk_full(*_args: object, **_kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _assert_nothing_written(out: Path) -> None:
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert left == [], f"a failed packaging left {left} in {out}"


def test_disk_full_while_writing_leaves_no_bundle(iris_model, tmp_path, monkeypatch):
    out = tmp_path / "bundles"
    real_write = Path.write_bytes

    def write_bytes(self: Path, data: bytes) -> int:
        if self.name == "model.onnx":
            _disk_full()
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    result = _package(iris_model, out)
    assert result.exit_code == 2, result.output
    assert "no space left on device" in result.output.lower()
    assert str(out) in result.output, "the message names the directory to free or change"
    _assert_nothing_written(out)


def test_failure_placing_the_archive_leaves_no_half_bundle(iris_model, tmp_path, monkeypatch):
    """The directory is placed, then moving the archive into place fails: neither may remain."""
    out = tmp_path / "bundles"
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if str(dst).endswith(".tar.gz"):
            _disk_full()
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    result = _package(iris_model, out)
    assert result.exit_code == 2, result.output
    _assert_nothing_written(out)


def test_unwritable_output_is_a_clear_error(iris_model, tmp_path, monkeypatch):
    out = tmp_path / "bundles"

    def replace(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", replace)
    result = _package(iris_model, out)
    assert result.exit_code == 2, result.output
    assert "permission denied" in result.output.lower()
    _assert_nothing_written(out)
