"""Existing .onnx files: checked, shapes inferred, multi-input models, bad files refused."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from skl2onnx import to_onnx

from bundle import open_bundle
from model_packager import package
from model_packager.converters.base import ConversionError, ModelLoadError, SampleMismatchError
from model_packager.verify import verify_bundle


def _token_model() -> onnx.ModelProto:
    """Mean of token embeddings under an attention mask: ids and mask both int64 [batch, seq]."""
    embeddings = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["embeddings", "input_ids"], ["vectors"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["vectors", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask_f", "axis1"], ["count"], keepdims=1),
        helper.make_node("Max", ["count", "one"], ["safe_count"]),
        helper.make_node("Div", ["summed", "safe_count"], ["pooled"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tokens",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", 8])],
        initializer=[
            helper.make_tensor("embeddings", TensorProto.FLOAT, [50, 8], embeddings.ravel().tolist()),
            helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
            helper.make_tensor("axis2", TensorProto.INT64, [1], [2]),
            helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0]),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="handmade")


def test_sklearn_exported_onnx_file(iris, iris_pipeline, tmp_path):
    features, _ = iris
    path = tmp_path / "iris.onnx"
    path.write_bytes(
        to_onnx(iris_pipeline, features[:1].astype(np.float32), options={"zipmap": False}).SerializeToString()
    )
    result = package(path, name="iris-onnx", version="2.0.0", sample=features[:12], out=tmp_path / "out")
    manifest = result.manifest
    assert manifest.framework.name == "skl2onnx" and manifest.converter.name == "onnx"
    assert manifest.task == "classifier" and manifest.labels == [0, 1, 2]  # read from the LinearClassifier node
    assert (manifest.label_output, manifest.probability_output) == ("label", "probabilities")
    assert [s.shape for s in manifest.inputs] == [[None, 4]]
    assert manifest.parity.passed and all(c.measured in (0.0, 1.0) for c in manifest.parity.checks)
    assert verify_bundle(result.archive).passed


def test_multi_input_token_model_keeps_both_dynamic_axes(tmp_path):
    path = tmp_path / "tokens.onnx"
    onnx.save(_token_model(), path)
    ids = np.array([[3, 7, 9, 0], [1, 2, 0, 0]], dtype=np.int64)
    mask = (ids > 0).astype(np.int64)
    result = package(
        path, name="tokens", version="1.0.0", sample={"input_ids": ids, "attention_mask": mask}, out=tmp_path
    )
    specs = [(s.name, s.dtype, s.shape) for s in result.manifest.inputs]
    assert specs == [("input_ids", "int64", [None, None]), ("attention_mask", "int64", [None, None])]
    assert result.manifest.outputs[0].shape == [None, 8]
    assert result.manifest.task == "other" and result.manifest.labels is None
    samples = open_bundle(result.directory).samples()
    assert samples.inputs["input_ids"].shape == (2, 4) and samples.outputs["pooled"].shape == (2, 8)

    generated = package(path, name="tokens", version="1.0.1", out=tmp_path)
    assert any("input_ids [8, 8] int64" in note for note in generated.notes)
    assert verify_bundle(generated.archive).passed


def test_sample_errors_for_multi_input(tmp_path):
    path = tmp_path / "tokens.onnx"
    onnx.save(_token_model(), path)
    ids = np.ones((2, 4), dtype=np.int64)
    with pytest.raises(SampleMismatchError, match=r"missing \['attention_mask'\]"):
        package(path, name="tokens", version="1.0.0", sample={"input_ids": ids}, out=tmp_path)
    with pytest.raises(SampleMismatchError, match="takes 2 inputs"):
        package(path, name="tokens", version="1.0.0", sample=ids, out=tmp_path)
    with pytest.raises(SampleMismatchError, match="fractional values"):
        package(path, name="tokens", version="1.0.0", sample=(ids * 0.5, ids), out=tmp_path)


def test_zipmap_output_is_refused_with_a_hint(iris, iris_pipeline, tmp_path):
    path = tmp_path / "zipmap.onnx"
    path.write_bytes(to_onnx(iris_pipeline, iris[0][:1].astype(np.float32)).SerializeToString())
    with pytest.raises(ConversionError, match="output 'output_probability' is a sequence_type.*zipmap=False"):
        package(path, name="zip", version="1.0.0", sample=iris[0][:4], out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_corrupted_onnx_file(tmp_path):
    path = tmp_path / "broken.onnx"
    onnx.save(_token_model(), path)
    path.write_bytes(path.read_bytes()[:-37])
    with pytest.raises(ModelLoadError, match="broken.onnx is not a readable ONNX model"):
        package(path, name="broken", version="1.0.0", out=tmp_path / "out")
