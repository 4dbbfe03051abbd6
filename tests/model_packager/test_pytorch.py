"""PyTorch converter: nn.Module, TorchScript and .pt2 inputs, checked against the original model in onnxruntime."""

from __future__ import annotations

import sys

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
from torch import nn  # noqa: E402

from bundle import open_bundle  # noqa: E402
from model_packager.converters.base import (  # noqa: E402
    ConvertOptions,
    MissingFrameworkError,
    ModelLoadError,
    SampleMismatchError,
    UnsupportedModelError,
)
from model_packager.converters.pytorch import TorchConverter  # noqa: E402
from model_packager.converters.pytorch_io import archive_kind  # noqa: E402

pytestmark = pytest.mark.torch
TOLERANCE = 1e-5


class Regressor(nn.Module):
    """A small MLP with dropout (so eval mode matters)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class TokenClassifier(nn.Module):
    """Token ids + attention mask (int64, dynamic batch and sequence) -> (logits, pooled)."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens = nn.Embedding(100, 8)
        self.positions = nn.Embedding(32, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(input_ids.shape[1]).unsqueeze(0)
        hidden = (self.tokens(input_ids) + self.positions(positions)) * attention_mask.unsqueeze(-1).float()
        pooled = hidden.sum(1) / attention_mask.sum(1, keepdim=True).clamp(min=1).float()
        return self.head(pooled), pooled


def _seeded(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for parameter in model.parameters():
        nn.init.normal_(parameter, std=0.5)
    return model


def _tokens(batch: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 100, (batch, length)).astype(np.int64)
    mask = np.ones((batch, length), dtype=np.int64)
    mask[:, length // 2 + 1 :] = rng.integers(0, 2, (batch, length - length // 2 - 1))
    return ids, mask


def _session(conversion) -> ort.InferenceSession:
    return ort.InferenceSession(conversion.model.SerializeToString(), providers=["CPUExecutionProvider"])


def _signature(session: ort.InferenceSession) -> tuple[list, list]:
    return [(i.name, i.type, i.shape) for i in session.get_inputs()], [(o.name, o.shape) for o in session.get_outputs()]


def _dims(shape: list) -> list:
    """Shape as ONNX declares it, with symbolic dims as None."""
    return [dim if isinstance(dim, int) else None for dim in shape]


def _reference(model, *arrays: np.ndarray) -> list[np.ndarray]:
    with torch.no_grad():
        result = model.eval()(*[torch.from_numpy(a) for a in arrays])
    results = result if isinstance(result, tuple) else (result,)
    return [r.numpy() for r in results]


def _max_diff(got: list[np.ndarray], want: list[np.ndarray]) -> float:
    return max(float(np.abs(g - w).max()) for g, w in zip(got, want, strict=True))


@pytest.fixture(scope="module")
def converter() -> TorchConverter:
    return TorchConverter()


@pytest.fixture(scope="module")
def regressor() -> nn.Module:
    return _seeded(Regressor())


@pytest.fixture(scope="module")
def token_model() -> nn.Module:
    return _seeded(TokenClassifier())


@pytest.fixture(scope="module")
def token_conversion(converter, token_model):
    ids, mask = _tokens(3, 6, seed=1)
    return converter.convert(token_model, (torch.from_numpy(ids), torch.from_numpy(mask)), ConvertOptions())


def test_module_converts_with_dynamic_batch_and_matches_original(converter, regressor):
    regressor.train()  # the converter must run (and export) the model in eval mode, then restore the mode
    sample = np.random.default_rng(0).standard_normal((1, 4))  # float64, one row
    conversion = converter.convert(regressor, sample, ConvertOptions())

    assert regressor.training
    assert conversion.framework.name == "torch" and conversion.converter.name == "torch.onnx.dynamo"
    assert conversion.inputs["x"].dtype == np.float32 and conversion.inputs["x"].shape == (1, 4)
    assert any("cast to float32" in note for note in conversion.notes)
    assert len(conversion.model.graph.initializer) > 0  # weights inline, no external data
    session = _session(conversion)
    inputs, outputs = _signature(session)
    assert [(name, kind, _dims(shape)) for name, kind, shape in inputs] == [("x", "tensor(float)", [None, 4])]
    assert [(name, _dims(shape)) for name, shape in outputs] == [("output", [None, 3])]
    for rows in (1, 5, 33):
        batch = np.random.default_rng(rows).standard_normal((rows, 4)).astype(np.float32)
        assert _max_diff(session.run(None, {"x": batch}), _reference(regressor, batch)) < TOLERANCE
    np.testing.assert_allclose(conversion.expected["output"], _reference(regressor, conversion.inputs["x"])[0])


def test_token_model_has_dynamic_batch_and_sequence(token_conversion, token_model):
    session = _session(token_conversion)
    inputs, outputs = _signature(session)
    assert [(name, kind, _dims(shape)) for name, kind, shape in inputs] == [
        ("input_ids", "tensor(int64)", [None, None]),
        ("attention_mask", "tensor(int64)", [None, None]),
    ]
    assert [(name, _dims(shape)) for name, shape in outputs] == [("output_0", [None, 2]), ("output_1", [None, 8])]
    assert inputs[0][2][0] == "batch"
    for batch, length in ((1, 3), (5, 11), (2, 32)):  # neither the sample's batch (3) nor its length (6)
        ids, mask = _tokens(batch, length, seed=batch)
        got = session.run(None, {"input_ids": ids, "attention_mask": mask})
        assert got[0].shape == (batch, 2)
        assert _max_diff(got, _reference(token_model, ids, mask)) < TOLERANCE


def test_dict_sample_and_explicit_dynamic_axes(converter, token_model):
    ids, mask = _tokens(2, 4, seed=3)
    options = ConvertOptions(dynamic_axes={"input_ids": (0,), "attention_mask": (0,)})
    conversion = converter.convert(token_model, {"attention_mask": mask, "input_ids": ids}, options)
    inputs, _ = _signature(_session(conversion))
    assert [_dims(shape) for _, _, shape in inputs] == [[None, 4], [None, 4]]  # sequence fixed as asked
    assert list(conversion.inputs) == ["input_ids", "attention_mask"]


def test_torchscript_file_detected_by_content(converter, regressor, tmp_path):
    path = tmp_path / "scripted.bin"  # no torch suffix: recognised by the archive's entries
    torch.jit.save(torch.jit.script(regressor.eval()), str(path))
    assert archive_kind(path) == "torchscript" and converter.can_load(path)
    loaded = converter.load(path)
    assert isinstance(loaded, torch.jit.ScriptModule) and converter.accepts(loaded)

    sample = np.random.default_rng(1).standard_normal((4, 4)).astype(np.float32)
    conversion = converter.convert(loaded, sample, ConvertOptions())
    assert conversion.converter.name in {"torch.onnx.dynamo", "torch.onnx.torchscript"}
    assert any("TorchScript" in note for note in conversion.notes)  # says which exporter took it
    session = _session(conversion)
    inputs, outputs = _signature(session)
    assert [(name, _dims(shape)) for name, _, shape in inputs] == [("x", [None, 4])]
    assert [(name, _dims(shape)) for name, shape in outputs] == [("output", [None, 3])]
    batch = np.random.default_rng(2).standard_normal((9, 4)).astype(np.float32)
    assert _max_diff(session.run(None, {"x": batch}), _reference(regressor, batch)) < TOLERANCE


def test_exported_program_without_sample_generates_one(converter, regressor, tmp_path):
    program = torch.export.export(
        regressor.eval(), (torch.zeros(2, 4),), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    path = tmp_path / "regressor.pt2"
    torch.export.save(program, path)
    assert archive_kind(path) == "exported" and converter.can_load(path)

    conversion = converter.convert(converter.load(path), None, ConvertOptions(sample_rows=6))
    assert conversion.sample_generated and "generated" in conversion.notes[0]
    assert conversion.inputs["x"].shape == (6, 4)
    session = _session(conversion)
    inputs, _ = _signature(session)
    assert [(name, _dims(shape)) for name, _, shape in inputs] == [("x", [None, 4])]
    batch = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)
    assert _max_diff(session.run(None, {"x": batch}), _reference(regressor, batch)) < TOLERANCE

    with pytest.raises(SampleMismatchError, match=r"input 'x' takes shape \[dynamic, 4\].*axis 1 is 5"):
        converter.convert(converter.load(path), np.zeros((3, 5), np.float32), ConvertOptions())


def test_exported_program_with_token_inputs_needs_a_sample(converter, token_model):
    ids, mask = (torch.from_numpy(a) for a in _tokens(2, 5, seed=4))
    program = torch.export.export(token_model.eval(), (ids, mask))
    with pytest.raises(SampleMismatchError, match=r"input_ids.*cannot invent a sample"):
        converter.convert(program, None, ConvertOptions())


def test_bad_samples_name_the_input(converter, regressor, token_model):
    with pytest.raises(SampleMismatchError, match=r"give a sample for forward\(x\)"):
        converter.convert(regressor, None, ConvertOptions())
    with pytest.raises(SampleMismatchError, match=r"x \[3, 5\] float32.*cannot be multiplied"):
        converter.convert(regressor, np.zeros((3, 5), np.float32), ConvertOptions())
    with pytest.raises(SampleMismatchError, match=r"\['token_ids'\] are not arguments of forward"):
        converter.convert(token_model, {"token_ids": np.zeros((2, 3), np.int64)}, ConvertOptions())
    with pytest.raises(SampleMismatchError, match=r"forward takes 2 to 2"):
        converter.convert(token_model, np.zeros((2, 3), np.int64), ConvertOptions())
    with pytest.raises(SampleMismatchError, match=r"'x'.*<U1"):
        converter.convert(regressor, np.array([["a", "b", "c", "d"]]), ConvertOptions())


def test_files_it_must_refuse(converter, regressor, tmp_path):
    checkpoint = tmp_path / "weights.pt"
    torch.save(regressor.state_dict(), checkpoint)
    assert archive_kind(checkpoint) == "checkpoint"
    with pytest.raises(UnsupportedModelError, match=r"torch.save checkpoint.*torch.jit.save"):
        converter.load(checkpoint)

    truncated = tmp_path / "truncated.pt"
    scripted = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(regressor), str(scripted))
    truncated.write_bytes(scripted.read_bytes()[:300])
    with pytest.raises(ModelLoadError, match="corrupted or truncated"):
        converter.load(truncated)
    assert not converter.can_load(tmp_path / "model.onnx") and not converter.can_load(tmp_path)


def test_accepts_only_torch_models(converter, regressor):
    assert converter.accepts(regressor)
    assert not converter.accepts(np.zeros(3)) and not converter.accepts(object())


def test_missing_onnxscript_names_the_extra(converter, regressor, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # import of it now raises ImportError
    with pytest.raises(MissingFrameworkError, match=r"maaskit\[torch\]"):
        converter.convert(regressor, np.zeros((2, 4), np.float32), ConvertOptions())


def _parity(manifest) -> dict[tuple[str, str], float]:
    assert manifest.parity.passed
    return {(check.output, check.metric): check.measured for check in manifest.parity.checks}


def test_package_token_module_end_to_end(token_model, tmp_path):
    from model_packager import package

    ids, mask = _tokens(4, 6, seed=5)
    result = package(token_model, name="tokens", version="1.0.0", sample=(torch.from_numpy(ids), mask), out=tmp_path)
    bundle = open_bundle(result.archive)
    manifest = bundle.manifest
    assert manifest == result.manifest
    assert (manifest.framework.name, manifest.converter.name, manifest.task) == ("torch", "torch.onnx.dynamo", "other")
    assert [(s.name, s.dtype, s.shape) for s in manifest.inputs] == [
        ("input_ids", "int64", [None, None]),
        ("attention_mask", "int64", [None, None]),
    ]
    assert [(s.name, s.shape) for s in manifest.outputs] == [("output_0", [None, 2]), ("output_1", [None, 8])]
    parity = _parity(manifest)
    assert manifest.parity.sample_count == 4
    assert parity[("output_0", "max_abs_diff")] < TOLERANCE and parity[("output_1", "max_abs_diff")] < TOLERANCE
    samples = bundle.samples()
    np.testing.assert_array_equal(samples.inputs["input_ids"], ids)
    np.testing.assert_allclose(samples.outputs["output_0"], _reference(token_model, ids, mask)[0], rtol=1e-6)

    session = ort.InferenceSession(str(bundle.model_path), providers=["CPUExecutionProvider"])
    ids, mask = _tokens(7, 13, seed=6)
    got = session.run(None, {"input_ids": ids, "attention_mask": mask})
    assert _max_diff(got, _reference(token_model, ids, mask)) < TOLERANCE


@pytest.mark.parametrize("kind", ["torchscript", "pt2"])
def test_package_saved_files_end_to_end(kind, regressor, tmp_path):
    from model_packager import package

    regressor.eval()
    if kind == "torchscript":
        path = tmp_path / "regressor.pt"
        torch.jit.save(torch.jit.script(regressor), str(path))
        sample = np.random.default_rng(7).standard_normal((12, 4)).astype(np.float32)
    else:
        path = tmp_path / "regressor.pt2"
        batch = torch.export.Dim("batch")
        torch.export.save(torch.export.export(regressor, (torch.zeros(2, 4),), dynamic_shapes=({0: batch},)), path)
        sample = None
    result = package(path, name="regressor", version="2.1.0", sample=sample, out=tmp_path / "bundles")
    manifest = open_bundle(result.directory).manifest
    assert manifest.framework.name == "torch"
    assert [(s.name, s.dtype, s.shape) for s in manifest.inputs] == [("x", "float32", [None, 4])]
    assert [(s.name, s.shape) for s in manifest.outputs] == [("output", [None, 3])]
    assert _parity(manifest)[("output", "max_abs_diff")] < TOLERANCE
    assert manifest.parity.sample_count == (12 if sample is not None else 8)
    assert any("generated" in note for note in result.notes) == (sample is None)
