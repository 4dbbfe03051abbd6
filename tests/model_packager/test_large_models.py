"""Models over 2 GB: external data through package, verify and serving, with the size threshold lowered.

The real > 2 GB run is ``test_a_model_over_2_gb_packages_verifies_and_serves`` (``-m slow``); the
others go through the very same code with ``EXTERNAL_DATA_THRESHOLD`` set to a few kilobytes.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
from torch import nn  # noqa: E402

from bundle import MODEL_DATA_FILE, open_bundle  # noqa: E402
from bundle.reference import REFERENCE_FILE  # noqa: E402
from handlers.app import create_app  # noqa: E402
from handlers.engine import ModelRepository  # noqa: E402
from handlers.settings import Settings  # noqa: E402
from maaskit.cli import app as cli_app  # noqa: E402
from model_packager import model_files, package, resources  # noqa: E402
from model_packager.resources import ModelTooLargeError  # noqa: E402
from model_packager.verify import verify_bundle  # noqa: E402
from tests.handlers.conftest import asgi_post  # noqa: E402

pytestmark = pytest.mark.torch


def _mlp(width: int = 64) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 3))


@pytest.fixture
def tiny_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any model over 4 kB is 'over 2 GB' for the duration of a test."""
    monkeypatch.setattr(model_files, "EXTERNAL_DATA_THRESHOLD", 4096)


def _predict(bundle_path: Path, rows: np.ndarray) -> np.ndarray:
    """One POST /models/<name>/predict through the real app (the bundle loaded by path, as in production)."""
    settings = Settings.load(environ={}, access_log=False, intra_op_threads=1)
    repository = ModelRepository.load(settings, [bundle_path])
    manifest = open_bundle(bundle_path, verify=False, extract_to=bundle_path.parent / "peek").manifest
    app = create_app(repository, settings)
    body = {"inputs": {manifest.inputs[0].name: rows.tolist()}}
    response = asgi_post(app, f"/models/{manifest.name}/predict", json=body)
    assert response.status_code == 200, response.text
    return np.asarray(response.json()["outputs"][manifest.outputs[0].name], dtype=np.float32)


def test_external_data_is_checksummed_archived_verified_and_served(tiny_threshold, tmp_path: Path) -> None:
    model = _mlp()
    sample = torch.randn(4, 8)
    result = package(model, name="mlp", version="1.0.0", sample=(sample,), out=tmp_path)
    files = result.manifest.files
    assert set(files) == {"model.onnx", MODEL_DATA_FILE, "samples.npz", REFERENCE_FILE}
    data = result.directory / MODEL_DATA_FILE
    assert files[MODEL_DATA_FILE].size == data.stat().st_size > 64 * 64 * 4  # the weights live there
    assert (result.directory / "model.onnx").stat().st_size < data.stat().st_size / 2  # the graph, small tensors
    graph = onnx.load(str(result.directory / "model.onnx"), load_external_data=False)
    locations = {e.value for t in graph.graph.initializer for e in t.external_data if e.key == "location"}
    assert locations == {MODEL_DATA_FILE}  # relative to model.onnx: resolvable wherever the bundle lands
    with tarfile.open(result.archive) as tar:
        assert sorted(tar.getnames()) == ["manifest.json", "model.onnx", MODEL_DATA_FILE, REFERENCE_FILE, "samples.npz"]
    assert any("external data" in note for note in result.notes)
    assert verify_bundle(result.directory).passed and verify_bundle(result.archive).passed
    expected = model(sample[:2]).detach().numpy()
    np.testing.assert_allclose(_predict(result.archive, sample[:2].numpy()), expected, atol=1e-5)


def test_tampered_external_data_is_refused(tiny_threshold, tmp_path: Path) -> None:
    result = package(_mlp(), name="mlp", version="1.0.0", sample=(torch.randn(4, 8),), out=tmp_path)
    data = result.directory / MODEL_DATA_FILE
    payload = bytearray(data.read_bytes())
    payload[100] ^= 0xFF
    data.write_bytes(bytes(payload))
    verdict = verify_bundle(result.directory)
    assert not verdict.passed
    assert verdict.steps[-1].name == "checksums" and MODEL_DATA_FILE in verdict.steps[-1].detail


def test_external_data_packaging_is_reproducible(tiny_threshold, tmp_path: Path) -> None:
    sample = (torch.randn(4, 8),)
    first = package(_mlp(), name="mlp", version="1.0.0", sample=sample, out=tmp_path / "a")
    second = package(_mlp(), name="mlp", version="1.0.0", sample=sample, out=tmp_path / "b")
    assert first.archive.read_bytes() == second.archive.read_bytes()


def test_onnx_file_with_external_data_is_packaged_by_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "src"
    source.mkdir()
    exported = torch.onnx.export(_mlp(), (torch.randn(2, 8),), dynamo=True, verbose=False, input_names=["x"])
    exported.save(str(source / "net.onnx"), external_data=True)  # weights in net.onnx.data
    assert (source / "net.onnx.data").is_file()
    sample = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    inline = package(source / "net.onnx", name="net", version="1.0.0", sample=sample, out=tmp_path / "small")
    assert set(inline.manifest.files) == {
        "model.onnx",
        "samples.npz",
        REFERENCE_FILE,
    }  # under the threshold: weights inline
    monkeypatch.setattr(model_files, "EXTERNAL_DATA_THRESHOLD", 4096)
    large = package(source / "net.onnx", name="net", version="1.0.0", sample=sample, out=tmp_path / "large")
    assert MODEL_DATA_FILE in large.manifest.files  # rewritten as the bundle's one data file
    assert verify_bundle(large.archive).passed


def test_resources_are_measured_in_a_fresh_process(tmp_path: Path) -> None:
    result = package(_mlp(), name="mlp", version="1.0.0", sample=(torch.randn(4, 8),), out=tmp_path, measure=True)
    measured = result.manifest.resources
    assert measured is not None
    assert 20 * 2**20 < measured.resident_bytes < 1024 * 2**20  # numpy + onnxruntime + a tiny model, not torch
    assert 0 < measured.ready_seconds < 60
    assert (
        package(_mlp(), name="mlp", version="2.0.0", sample=(torch.randn(4, 8),), out=tmp_path).manifest.resources
        is None
    )


def test_a_model_too_big_for_the_machine_is_refused_before_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resources, "available_memory", lambda: 64 * 2**20)
    model = nn.Sequential(nn.Linear(1024, 8192))  # 32 MiB of weights
    with pytest.raises(ModelTooLargeError, match=r"needs about .* GiB of memory .* is available \(MemAvailable\)"):
        package(model, name="big", version="1.0.0", sample=(torch.randn(2, 1024),), out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_cli_refuses_a_model_too_big_with_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "net.onnx"
    torch.onnx.export(_mlp(), (torch.randn(2, 8),), dynamo=True, verbose=False).save(str(path))
    monkeypatch.setattr(resources, "available_memory", lambda: 1024)
    outcome = CliRunner().invoke(
        cli_app, ["package", str(path), "--name", "net", "--version", "1.0.0", "--out", str(tmp_path)]
    )
    assert outcome.exit_code == 2, outcome.output
    assert "free memory or package it on a larger machine" in outcome.output


@pytest.mark.slow
def test_a_model_over_2_gb_packages_verifies_and_serves(tmp_path: Path) -> None:
    """2.4 GB of real float32 weights (nine 8192x8192 Linear layers): the protobuf could not hold them inline."""
    torch.manual_seed(0)
    with torch.no_grad():
        model = nn.Sequential(*[nn.Linear(8192, 8192) for _ in range(9)])
        for parameter in model.parameters():
            parameter.normal_(0, 8192**-0.5)
    sample = torch.randn(2, 8192)
    result = package(model, name="huge", version="1.0.0", sample=(sample,), out=tmp_path, measure=True)
    data = result.manifest.files[MODEL_DATA_FILE]
    assert data.size > 2 * 1024**3 and result.manifest.files["model.onnx"].size < 1024**2
    assert result.manifest.resources is not None and result.manifest.resources.resident_bytes > 2 * 1024**3
    assert verify_bundle(result.directory).passed
    expected = model(sample[:1]).detach().numpy()
    del model
    np.testing.assert_allclose(_predict(result.directory, sample[:1].numpy()), expected, atol=1e-4)
