"""Sample files and fitting samples to a signature."""

from __future__ import annotations

import numpy as np
import pytest

from bundle import TensorSpec
from model_packager.converters.base import SampleMismatchError
from model_packager.samples import feed_for_specs, fit_array, generate_feed, load_sample_file

X = TensorSpec(name="x", dtype="float32", shape=[None, 3])


def test_load_files(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((2, 3)))
    np.savez(tmp_path / "b.npz", ids=np.ones((2, 4), dtype=np.int64), mask=np.ones((2, 4), dtype=np.int64))
    (tmp_path / "c.csv").write_text("age,plan\n31,pro\n45,basic\n")
    assert load_sample_file(tmp_path / "a.npy").shape == (2, 3)
    assert sorted(load_sample_file(tmp_path / "b.npz")) == ["ids", "mask"]
    frame = load_sample_file(tmp_path / "c.csv")
    assert list(frame.columns) == ["age", "plan"] and frame["plan"].tolist() == ["pro", "basic"]


def test_bad_files(tmp_path):
    (tmp_path / "s.txt").write_text("1,2,3")
    with pytest.raises(SampleMismatchError, match=r"unsupported file type '\.txt'; give \.npy, \.npz, \.csv"):
        load_sample_file(tmp_path / "s.txt")
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(SampleMismatchError, match="object arrays are refused"):
        load_sample_file(tmp_path / "o.npy")
    with pytest.raises(SampleMismatchError, match="does not exist"):
        load_sample_file(tmp_path / "missing.csv")


def test_fit_array_shapes_and_types():
    assert fit_array(np.array([1.0, 2.0, 3.0]), X).shape == (1, 3)  # one row
    assert fit_array(np.arange(6).reshape(2, 3), X).dtype == np.float32
    with pytest.raises(SampleMismatchError, match=r"axis 1 is 4, the model needs 3"):
        fit_array(np.zeros((2, 4)), X)
    with pytest.raises(SampleMismatchError, match="rank-2"):
        fit_array(np.zeros((2, 3, 1)), X)
    with pytest.raises(SampleMismatchError, match="holds text"):
        fit_array(np.array([["a", "b", "c"]]), X)
    text = TensorSpec(name="city", dtype="string", shape=[None, 1])
    fitted = fit_array(np.array(["paris", "oslo"]), text)
    assert fitted.shape == (2, 1) and fitted.dtype == object
    with pytest.raises(SampleMismatchError, match="takes strings"):
        fit_array(np.zeros((2, 1)), text)


def test_feed_rows_must_agree():
    specs = [
        TensorSpec(name="a", dtype="int64", shape=[None, None]),
        TensorSpec(name="b", dtype="int64", shape=[None, None]),
    ]
    with pytest.raises(SampleMismatchError, match="disagree on the number of rows"):
        feed_for_specs({"a": np.ones((2, 3)), "b": np.ones((3, 3))}, specs)


def test_generated_feed_is_reproducible_and_refuses_strings():
    first, note = generate_feed([X], rows=5)
    second, _ = generate_feed([X], rows=5)
    np.testing.assert_array_equal(first["x"], second["x"])
    assert first["x"].shape == (5, 3) and "seed 0" in note
    with pytest.raises(SampleMismatchError, match="cannot invent a sample"):
        generate_feed([TensorSpec(name="s", dtype="string", shape=[None])], rows=2)
