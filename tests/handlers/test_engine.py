"""Loading (verified before load, warmed up against samples), the repository, the inference seam."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from bundle import BundleError, BundleFormatError, BundleIntegrityError, open_bundle
from bundle.writer import write_bundle
from handlers.app import create_app
from handlers.engine import ModelRepository, load_runtime
from handlers.errors import ModelExecutionError, ModelNotFoundError, VersionNotFoundError
from handlers.session import choose_providers
from handlers.settings import Settings
from handlers.warmup import WarmupMismatchError
from tests.handlers.conftest import asgi_get, asgi_post


def _copy(src: Path, tmp_path: Path) -> Path:
    target = tmp_path / src.name
    shutil.copytree(src, target)
    return target


def test_tampered_model_is_refused_before_load(bundles, settings, tmp_path):
    copy = _copy(bundles.adder_v1, tmp_path)
    model = copy / "model.onnx"
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match="does not match its sha256"):
        load_runtime(copy, settings)


def test_tampered_archive_is_refused(bundles, settings, tmp_path):
    archive = bundles.root / "iris-1.0.0.tar.gz"
    copy = tmp_path / archive.name
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(BundleError):  # unreadable archive or checksum mismatch: never served
        load_runtime(copy, settings)


def test_archive_loads_like_the_directory(bundles, settings):
    runtime = load_runtime(bundles.root / "adder-1.0.0.tar.gz", settings)
    assert runtime.ready
    assert runtime.key == "adder-1.0.0"


def test_samples_that_the_model_does_not_reproduce_refuse_the_bundle(bundles, settings, tmp_path):
    bundle = open_bundle(bundles.adder_v1)
    samples = bundle.samples()
    wrong = {"total": samples.outputs["total"] + 1}
    paths = write_bundle(tmp_path, bundle.manifest, bundle.model_path.read_bytes(), samples.inputs, wrong)
    with pytest.raises(WarmupMismatchError, match="does not reproduce its samples"):
        load_runtime(paths.directory, settings)
    skip = Settings.load(environ={}, verify_samples=False, intra_op_threads=1)
    assert load_runtime(paths.directory, skip).ready


def test_manifest_that_disagrees_with_the_graph_is_refused(bundles, settings, tmp_path):
    bundle = open_bundle(bundles.adder_v1)
    samples = bundle.samples()
    spec = bundle.manifest.inputs[0].model_copy(update={"dtype": "int32"})
    manifest = bundle.manifest.model_copy(update={"inputs": [spec, bundle.manifest.inputs[1]]})
    paths = write_bundle(tmp_path, manifest, bundle.model_path.read_bytes(), samples.inputs, samples.outputs)
    with pytest.raises(BundleFormatError, match="manifest says input 'a' is int32"):
        load_runtime(paths.directory, settings)


def test_repository_latest_by_semver_and_typed_errors(repository):
    assert repository.get("adder").version == "1.10.0"
    assert repository.get("adder", "1.0.0").version == "1.0.0"
    assert [runtime.key for runtime in repository.runtimes()] == [
        "adder-1.0.0",
        "adder-1.10.0",
        "diabetes-2.1.0",
        "iris-1.0.0",
    ]
    with pytest.raises(ModelNotFoundError, match="loaded models: adder, diabetes, iris"):
        repository.get("nope")
    with pytest.raises(VersionNotFoundError, match="loaded versions: 1.0.0, 1.10.0"):
        repository.get("adder", "2.0.0")
    assert repository.ready


def test_directory_and_its_archive_count_once_but_conflicts_are_refused(bundles, settings, tmp_path):
    repository = ModelRepository.load(settings, [bundles.adder_v1, bundles.root / "adder-1.0.0.tar.gz"])
    assert len(repository) == 1
    bundle = open_bundle(bundles.adder_v2)
    samples = bundle.samples()
    clash = bundle.manifest.model_copy(update={"version": "1.0.0"})
    paths = write_bundle(tmp_path, clash, bundle.model_path.read_bytes(), samples.inputs, samples.outputs)
    with pytest.raises(BundleFormatError, match="two different bundles claim adder 1.0.0"):
        ModelRepository.load(settings, [bundles.adder_v1, paths.directory])


def test_cuda_requested_without_it_falls_back_to_cpu_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="maaskit.session"):
        chosen = choose_providers(("CUDAExecutionProvider", "CPUExecutionProvider"), ["CPUExecutionProvider"])
    assert chosen == ["CPUExecutionProvider"]
    assert "CUDAExecutionProvider was requested" in caplog.text
    available = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(("CUDAExecutionProvider",), available) == available  # CPU always last


def test_session_uses_settings_providers(bundles, caplog):
    settings = Settings.load(environ={"MAASKIT_PROVIDERS": "cuda,cpu"}, intra_op_threads=1)
    with caplog.at_level(logging.WARNING, logger="maaskit.session"):
        runtime = load_runtime(bundles.adder_v1, settings)
    assert runtime.providers[-1] == "CPUExecutionProvider"


def test_run_wraps_onnxruntime_failures(repository):
    runtime = repository.get("adder", "1.0.0")
    with pytest.raises(ModelExecutionError, match="rejected the input"):
        runtime.run({"a": np.zeros((3, 2), np.int64), "b": np.zeros((2, 2), np.int64)})


def test_threaded_inference_for_slow_models(bundles):
    settings = Settings.load(environ={}, inline_max_ms=0.0, intra_op_threads=1)
    runtime = load_runtime(bundles.adder_v1, settings)
    assert runtime.infer.__name__ == "threaded"
    feed = {"a": np.ones((1, 2), np.int64), "b": np.ones((1, 2), np.int64)}

    async def call() -> dict[str, np.ndarray]:
        return await runtime.infer(feed)

    out = asyncio.run(call())
    assert out["total"].tolist() == [[2, 2]]


def test_routes_go_through_the_replaceable_infer_seam(bundles, settings):
    runtime = load_runtime(bundles.adder_v1, settings)
    seen = []

    async def spy(feed):
        seen.append(sorted(feed))
        return runtime.run(feed)

    runtime.infer = spy
    app = create_app(ModelRepository([runtime]), settings)

    assert asgi_post(app, "/models/adder/predict", json={"inputs": {"a": [[1, 2]], "b": [[1, 1]]}}).status_code == 200
    assert (
        asgi_post(app, "/v1/models/adder:predict", json={"instances": [{"a": [1, 2], "b": [1, 1]}]}).status_code == 200
    )
    assert seen == [["a", "b"], ["a", "b"]]
    assert asgi_get(app, "/ping").status_code == 200


def test_load_runtime_hands_the_runtime_its_processor(bundles, settings, monkeypatch):
    import inspect

    import handlers.engine as engine
    from handlers.engine import ModelRuntime
    from handlers.tabular import TensorProcessor

    assert inspect.signature(ModelRuntime).parameters["processor"].default is inspect.Parameter.empty
    made = []
    real = engine.processor_for
    monkeypatch.setattr(engine, "processor_for", lambda bundle: made.append(bundle.manifest.name) or real(bundle))
    runtime = load_runtime(bundles.iris, settings)
    assert made == ["iris"] and isinstance(runtime.processor, TensorProcessor)
