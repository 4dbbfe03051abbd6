"""TensorFlow/Keras converter: .keras files (Sequential), functional models and SavedModels, checked in onnxruntime."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from model_packager.converters.base import ConvertOptions, ModelLoadError, SampleMismatchError
from model_packager.converters.tensorflow_keras import TensorFlowConverter

pytestmark = pytest.mark.tensorflow
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf2onnx")
    import keras

    keras.utils.set_random_seed(0)
    return keras


@pytest.fixture(scope="module")
def converter() -> TensorFlowConverter:
    return TensorFlowConverter()


@pytest.fixture(scope="module")
def sequential_file(keras, tmp_path_factory):
    model = keras.Sequential(
        [keras.Input((4,), name="features"), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)]
    )
    path = tmp_path_factory.mktemp("tf") / "sequential.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def token_model(keras):
    ids = keras.Input((None,), dtype="int64", name="input_ids")
    mask = keras.Input((None,), dtype="int64", name="attention_mask")
    hidden = keras.layers.Embedding(100, 8)(ids) * keras.ops.expand_dims(keras.ops.cast(mask, "float32"), -1)
    pooled = keras.ops.sum(hidden, axis=1) / keras.ops.maximum(
        keras.ops.sum(keras.ops.cast(mask, "float32"), 1, True), 1
    )
    logits = keras.layers.Dense(2, name="logits")(pooled)
    return keras.Model([ids, mask], [logits, pooled])


def _session(conversion) -> ort.InferenceSession:
    return ort.InferenceSession(conversion.model.SerializeToString(), providers=["CPUExecutionProvider"])


def _dims(shape: list) -> list:
    return [dim if isinstance(dim, int) else None for dim in shape]


def _tokens(batch: int, length: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, length), dtype=np.int64)
    mask[:, length // 2 + 1 :] = rng.integers(0, 2, (batch, length - length // 2 - 1))
    return {"input_ids": rng.integers(0, 100, (batch, length)).astype(np.int64), "attention_mask": mask}


def test_sequential_keras_file_converts_with_dynamic_batch(converter, keras, sequential_file):
    assert converter.can_load(sequential_file)
    model = converter.load(sequential_file)
    assert converter.accepts(model)
    sample = np.random.default_rng(0).standard_normal((5, 4))  # float64: cast to the model's float32
    conversion = converter.convert(model, sample, ConvertOptions())

    assert (conversion.framework.name, conversion.converter.name) == ("tensorflow", "tf2onnx")
    session = _session(conversion)
    assert [(i.name, i.type, _dims(i.shape)) for i in session.get_inputs()] == [
        ("features", "tensor(float)", [None, 4])
    ]
    assert [(o.name, _dims(o.shape)) for o in session.get_outputs()] == [("output", [None, 3])]
    assert session.get_inputs()[0].shape[0] == "batch"
    for rows in (1, 7):
        batch = np.random.default_rng(rows).standard_normal((rows, 4)).astype(np.float32)
        got = session.run(None, {"features": batch})[0]
        assert float(np.abs(got - model(batch, training=False).numpy()).max()) < TOLERANCE
    np.testing.assert_allclose(conversion.expected["output"], model(sample.astype(np.float32)).numpy(), rtol=1e-6)


def test_token_model_keeps_batch_and_sequence_dynamic(converter, token_model):
    conversion = converter.convert(token_model, _tokens(3, 6, seed=1), ConvertOptions())
    session = _session(conversion)
    assert [(i.name, i.type, _dims(i.shape)) for i in session.get_inputs()] == [
        ("input_ids", "tensor(int64)", [None, None]),
        ("attention_mask", "tensor(int64)", [None, None]),
    ]
    # Keras names the outputs: the Dense layer "logits", the pooling op by its own name
    assert [(o.name, _dims(o.shape)) for o in session.get_outputs()] == [
        ("logits", [None, 2]),
        (token_model.output_names[1], [None, 8]),
    ]
    for batch, length in ((1, 3), (4, 11)):
        feed = _tokens(batch, length, seed=batch)
        want = token_model([feed["input_ids"], feed["attention_mask"]], training=False)
        got = session.run(None, feed)
        assert max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want, strict=True)) < TOLERANCE
    with pytest.raises(SampleMismatchError, match=r"input_ids.*cannot invent a sample"):
        converter.convert(token_model, None, ConvertOptions())


def test_saved_model_directory_without_sample(converter, keras, sequential_file, tmp_path):
    original = keras.models.load_model(sequential_file)
    directory = tmp_path / "exported"
    original.export(str(directory), format="tf_saved_model", verbose=False)
    assert converter.can_load(directory) and not converter.can_load(tmp_path)
    model = converter.load(directory)
    assert converter.accepts(model)

    conversion = converter.convert(model, None, ConvertOptions(sample_rows=4))
    assert conversion.sample_generated and "generated" in conversion.notes[0]
    session = _session(conversion)
    (name,) = [i.name for i in session.get_inputs()]
    assert _dims(session.get_inputs()[0].shape) == [None, 4]
    batch = np.random.default_rng(2).standard_normal((9, 4)).astype(np.float32)
    got = session.run(None, {name: batch})[0]
    assert float(np.abs(got - original(batch, training=False).numpy()).max()) < TOLERANCE


def test_bad_inputs_get_clear_errors(converter, sequential_file, tmp_path):
    model = converter.load(sequential_file)
    with pytest.raises(SampleMismatchError, match=r"input 'features' takes shape \[dynamic, 4\].*axis 1 is 5"):
        converter.convert(model, np.zeros((2, 5), np.float32), ConvertOptions())
    broken = tmp_path / "broken.keras"
    broken.write_bytes(sequential_file.read_bytes()[:200])
    with pytest.raises(ModelLoadError, match="corrupted or truncated"):
        converter.load(broken)
    assert not converter.accepts(np.zeros(3))


@pytest.mark.parametrize("kind", ["keras", "saved_model"])
def test_package_end_to_end(kind, converter, keras, sequential_file, tmp_path):
    from bundle import open_bundle
    from model_packager import package

    original = keras.models.load_model(sequential_file)
    if kind == "keras":
        source, sample = sequential_file, np.random.default_rng(3).standard_normal((10, 4)).astype(np.float32)
    else:
        source, sample = tmp_path / "saved", None
        original.export(str(source), format="tf_saved_model", verbose=False)
    result = package(source, name="seq", version="1.0.0", sample=sample, out=tmp_path / "bundles")
    bundle = open_bundle(result.archive)
    manifest = bundle.manifest
    assert (manifest.framework.name, manifest.converter.name) == ("tensorflow", "tf2onnx")
    assert [(s.dtype, s.shape) for s in manifest.inputs] == [("float32", [None, 4])]
    assert [s.shape for s in manifest.outputs] == [[None, 3]]
    assert manifest.parity.passed and manifest.parity.sample_count == (10 if sample is not None else 8)
    checks = {(c.output, c.metric): c.measured for c in manifest.parity.checks}
    assert checks[(manifest.outputs[0].name, "max_abs_diff")] < TOLERANCE
    samples = bundle.samples()
    (inputs,) = samples.inputs.values()
    np.testing.assert_allclose(
        samples.outputs[manifest.outputs[0].name], original(inputs, training=False).numpy(), rtol=1e-5, atol=1e-6
    )


def test_missing_tf2onnx_names_the_extra(converter, sequential_file, monkeypatch):
    import sys

    from model_packager.converters.base import MissingFrameworkError

    model = converter.load(sequential_file)
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # import of it now raises ImportError
    with pytest.raises(MissingFrameworkError, match=r"maaskit\[tensorflow\]"):
        converter.convert(model, np.zeros((2, 4), np.float32), ConvertOptions())
