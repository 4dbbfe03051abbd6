"""package() end to end with real scikit-learn conversions: parity, signature, labels, reload, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from bundle import open_bundle
from model_packager import package
from model_packager.api import InvalidRequestError
from model_packager.converters.base import SampleMismatchError
from model_packager.verify import verify_bundle


def test_iris_pipeline_bundle_has_parity_signature_and_labels(iris, iris_pipeline, tmp_path):
    features, _ = iris
    result = package(iris_pipeline, name="iris", version="1.0.0", sample=features[:20], out=tmp_path)

    manifest = result.manifest
    assert manifest.task == "classifier"
    assert manifest.labels == [0, 1, 2]
    assert (manifest.label_output, manifest.probability_output) == ("label", "probabilities")
    assert [(s.name, s.dtype, s.shape) for s in manifest.inputs] == [("input", "float32", [None, 4])]
    assert [(s.name, s.dtype, s.shape) for s in manifest.outputs] == [
        ("label", "int64", [None]),
        ("probabilities", "float32", [None, 3]),
    ]
    checks = {(c.output, c.metric): c for c in manifest.parity.checks}
    assert manifest.parity.passed and manifest.parity.sample_count == 20
    assert checks[("label", "label_agreement")].measured == 1.0
    assert checks[("probabilities", "max_abs_diff")].measured < 1e-5
    assert manifest.framework.name == "scikit-learn" and manifest.converter.name == "skl2onnx"

    bundle = open_bundle(result.archive)
    assert bundle.manifest == manifest
    samples = bundle.samples()
    np.testing.assert_allclose(
        samples.outputs["probabilities"], iris_pipeline.predict_proba(features[:20].astype(np.float32)), rtol=1e-12
    )
    assert verify_bundle(result.directory).passed and verify_bundle(result.archive).passed


def test_mixed_columns_get_one_input_each_and_string_labels(mixed_frame, mixed_pipeline, tmp_path):
    result = package(mixed_pipeline, name="churn", version="0.1.0", sample=mixed_frame.head(40), out=tmp_path)
    manifest = result.manifest
    assert [(s.name, s.dtype, s.shape) for s in manifest.inputs] == [
        ("age", "float32", [None, 1]),
        ("visits", "int64", [None, 1]),
        ("plan", "string", [None, 1]),
        ("region", "string", [None, 1]),
    ]
    assert manifest.labels == ["churn", "stay"]
    assert manifest.outputs[0].dtype == "string"
    agreement = next(c for c in manifest.parity.checks if c.metric == "label_agreement")
    assert agreement.measured >= 0.99 and manifest.parity.passed
    samples = open_bundle(result.directory).samples()
    assert samples.inputs["plan"].dtype.kind == "U"
    assert list(samples.outputs["label"][:5]) == list(mixed_pipeline.predict(mixed_frame.head(5)))
    assert verify_bundle(result.archive).passed


def test_regressor_output_aligned_to_onnx_shape(ridge, iris, tmp_path):
    features, _ = iris
    result = package(ridge, name="ridge", version="1.0.0", sample=features[:10, 1:], out=tmp_path)
    assert result.manifest.task == "regressor" and result.manifest.labels is None
    assert result.manifest.outputs[0].shape == [None, 1]
    stored = open_bundle(result.directory).samples().outputs["variable"]
    assert stored.shape == (10, 1)
    np.testing.assert_allclose(stored[:, 0], ridge.predict(features[:10, 1:].astype(np.float32)))


def test_same_model_and_sample_give_byte_identical_archives(iris_file, iris, tmp_path):
    features, _ = iris
    first = package(iris_file, name="iris", version="1.0.0", sample=features[:8], out=tmp_path / "a")
    second = package(iris_file, name="iris", version="1.0.0", sample=features[:8], out=tmp_path / "b")
    assert first.archive.read_bytes() == second.archive.read_bytes()
    assert first.manifest.provenance.source == "iris.joblib"


def test_generated_sample_is_said(iris_pipeline, tmp_path):
    result = package(iris_pipeline, name="iris", version="1.0.0", out=tmp_path)
    assert any("generated 8 rows x 4" in note for note in result.notes)
    assert result.manifest.parity.sample_count == 8


@pytest.mark.parametrize("kind", ["npy", "npz", "csv", "dict", "list"])
def test_sample_forms(kind, iris, iris_pipeline, tmp_path):
    features = iris[0][:6]
    sample: object = tmp_path / f"s.{kind}"
    if kind == "npy":
        np.save(tmp_path / "s.npy", features)
    elif kind == "npz":
        np.savez(tmp_path / "s.npz", input=features)
    elif kind == "csv":
        np.savetxt(tmp_path / "s.csv", features, delimiter=",", header="a,b,c,d", comments="")
    elif kind == "dict":
        sample = {"input": features}
    else:
        sample = features.tolist()
    result = package(iris_pipeline, name="iris", version="1.0.0", sample=sample, out=tmp_path / "out")
    assert result.manifest.parity.sample_count == 6 and result.manifest.parity.passed


def test_csv_columns_by_name_for_column_models(mixed_frame, mixed_pipeline, tmp_path):
    path = tmp_path / "sample.csv"
    mixed_frame.head(12)[["region", "plan", "visits", "age"]].to_csv(path, index=False)  # order does not matter
    result = package(mixed_pipeline, name="churn", version="1.0.0", sample=path, out=tmp_path / "out")
    assert [s.name for s in result.manifest.inputs] == ["age", "visits", "plan", "region"]
    assert result.manifest.parity.sample_count == 12


def test_sample_mismatches_name_the_problem(iris_pipeline, mixed_pipeline, mixed_frame, tmp_path):
    with pytest.raises(SampleMismatchError, match="3 features per row, the model takes 4"):
        package(iris_pipeline, name="iris", version="1.0.0", sample=np.zeros((2, 3)), out=tmp_path)
    with pytest.raises(SampleMismatchError, match=r"missing \['region'\]"):
        package(mixed_pipeline, name="churn", version="1.0.0", sample=mixed_frame.drop(columns="region"), out=tmp_path)
    with pytest.raises(SampleMismatchError, match="give a sample"):
        package(mixed_pipeline, name="churn", version="1.0.0", out=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "version", "match"),
    [
        ("Iris", "1.0.0", "invalid name"),
        ("iris_v1", "1.0.0", "invalid name"),
        ("iris", "v1.0", "invalid version"),
        ("iris", "1.0", "invalid version"),
    ],
)
def test_invalid_name_or_version_refused_before_work(iris_pipeline, tmp_path, name, version, match):
    with pytest.raises(InvalidRequestError, match=match):
        package(iris_pipeline, name=name, version=version, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_existing_version_refused_unless_force(iris_pipeline, tmp_path):
    first = package(iris_pipeline, name="iris", version="1.0.0", out=tmp_path)
    before = first.archive.read_bytes()
    with pytest.raises(InvalidRequestError, match="already exists"):
        package(iris_pipeline, name="iris", version="1.0.0", out=tmp_path, metadata={"k": "v"})
    assert first.archive.read_bytes() == before
    again = package(iris_pipeline, name="iris", version="1.0.0", out=tmp_path, metadata={"k": "v"}, force=True)
    assert again.manifest.metadata == {"k": "v"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iris-1.0.0", "iris-1.0.0.tar.gz"]


def test_large_sample_parity_on_all_rows_but_bundle_keeps_64(iris, iris_pipeline, tmp_path):
    features, _ = iris
    result = package(iris_pipeline, name="iris", version="1.0.0", sample=features, out=tmp_path)
    assert result.manifest.parity.sample_count == 150
    assert any("samples.npz keeps the first 64" in note for note in result.notes)
    samples = open_bundle(result.directory).samples()
    assert samples.inputs["input"].shape == (64, 4) and samples.outputs["probabilities"].shape == (64, 3)
    assert verify_bundle(result.directory).passed
