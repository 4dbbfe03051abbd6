"""Reference statistics recorded at packaging: ``reference.json`` in tabular and text bundles, checksummed,
archived deterministically, verified, and read back by :func:`bundle.reference.load_reference`."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from bundle import Bundle, BundleError, BundleIntegrityError, open_bundle
from bundle.reference import REFERENCE_FILE, load_reference, psi, reference_from_bundle
from bundle.writer import write_bundle
from model_packager import package
from model_packager.report import reference_line
from model_packager.verify import verify_bundle


def test_a_tabular_bundle_records_its_reference(iris, iris_pipeline, tmp_path: Path) -> None:
    features, _ = iris
    result = package(iris_pipeline, name="iris", version="1.0.0", sample=features, out=tmp_path)
    entry = result.manifest.files[REFERENCE_FILE]
    stored = (result.directory / REFERENCE_FILE).read_bytes()
    assert entry.size == len(stored)
    with tarfile.open(result.archive) as tar:
        assert REFERENCE_FILE in tar.getnames()

    reference = load_reference(result.archive)
    assert (reference.model, reference.version, reference.kind) == ("iris", "1.0.0", "tabular")
    column = result.manifest.inputs[0].name
    assert [f.name for f in reference.features] == [f"{column}[{i}]" for i in range(4)]
    # every one of the 150 sample rows, although samples.npz keeps 64: up to ten bins (tied quantiles merge)
    assert all(f.count == 150 and f.missing_rate == 0.0 and len(f.proportions) >= 9 for f in reference.features)
    assert open_bundle(result.directory).samples().count == 64
    petal_length, served = reference.features[2], features[:, 2].astype(np.float32)  # as the model takes them
    assert psi(petal_length, served) < 0.01 and psi(petal_length, served + 2.0) > 1.0


def test_packaging_twice_gives_the_same_archive_and_verify_passes(iris, iris_file, tmp_path: Path) -> None:
    features, _ = iris
    first = package(iris_file, name="iris", version="1.0.0", sample=features[:40], out=tmp_path / "a")
    second = package(iris_file, name="iris", version="1.0.0", sample=features[:40], out=tmp_path / "b")
    assert first.archive.read_bytes() == second.archive.read_bytes()
    verdict = verify_bundle(first.archive)
    assert verdict.passed and REFERENCE_FILE in verdict.steps[1].detail
    # up to 64 rows every sample is stored: the recorded reference is the one recomputed from samples.npz
    assert load_reference(first.directory) == reference_from_bundle(open_bundle(first.directory))


def test_inspect_says_what_the_reference_covers(iris, iris_file, tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from maaskit.cli import app

    result = package(iris_file, name="iris", version="1.0.0", sample=iris[0][:40], out=tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    shown = CliRunner().invoke(app, ["inspect", str(result.archive)])
    assert shown.exit_code == 0, shown.output
    assert "reference.json: 4 features from 40 sample rows (PSI bins, missing rates)" in shown.stdout


def test_a_tampered_reference_fails_verify_and_is_not_loaded(iris, iris_pipeline, tmp_path: Path) -> None:
    result = package(iris_pipeline, name="iris", version="1.0.0", sample=iris[0][:40], out=tmp_path)
    path = result.directory / REFERENCE_FILE
    document = json.loads(path.read_text())
    document["features"][0]["missing_rate"] = 0.5
    path.write_text(json.dumps(document, sort_keys=True))

    verdict = verify_bundle(result.directory)
    assert not verdict.passed
    assert verdict.steps[-1].name == "checksums" and REFERENCE_FILE in verdict.steps[-1].detail
    with pytest.raises(BundleIntegrityError, match=REFERENCE_FILE):
        load_reference(open_bundle(result.directory, verify=False))


def test_a_bundle_without_a_recorded_reference_has_it_recomputed(iris, iris_pipeline, tmp_path: Path) -> None:
    """Bundles packaged before maaskit recorded references still have one, from their samples."""
    packaged = open_bundle(
        package(iris_pipeline, name="iris", version="1.0.0", sample=iris[0][:40], out=tmp_path).directory
    )
    samples = packaged.samples()
    older = write_bundle(
        tmp_path / "older", packaged.manifest, packaged.model_path.read_bytes(), samples.inputs, samples.outputs
    )
    assert REFERENCE_FILE not in open_bundle(older.directory).manifest.files
    assert load_reference(older.archive) == load_reference(packaged)


def test_families_without_references_are_told_so(iris, iris_pipeline, tmp_path: Path) -> None:
    packaged = open_bundle(
        package(iris_pipeline, name="iris", version="1.0.0", sample=iris[0][:8], out=tmp_path).directory
    )
    speech = Bundle(packaged.root, packaged.manifest.model_copy(update={"task": "automatic-speech-recognition"}))
    with pytest.raises(BundleError, match="tensor .tabular. and text models only"):
        load_reference(speech)


def test_a_text_embedding_bundle_records_lengths_oov_and_centroid(tmp_path: Path) -> None:
    from tests.handlers.text.folders import CORPUS, TINY_SHAPE, embedding_folder

    folder = embedding_folder(tmp_path / "folder")
    result = package(
        folder, name="embedder", version="1.0.0", task="feature-extraction", sample=list(CORPUS), out=tmp_path
    )
    assert REFERENCE_FILE in result.manifest.files
    assert verify_bundle(result.archive).passed

    reference = load_reference(result.directory)
    assert reference.kind == "text" and [t.name for t in reference.texts] == ["text"]
    text = reference.texts[0]
    assert text.length.count == len(CORPUS) and 0.0 <= text.oov_rate < 1.0
    assert text.centroid is not None and len(text.centroid) == TINY_SHAPE["hidden_size"]
    embeddings = open_bundle(result.directory).samples().outputs["sentence_embedding"]
    np.testing.assert_allclose(text.centroid, embeddings.mean(axis=0), atol=1e-6)
    assert reference == reference_from_bundle(open_bundle(result.directory))
    assert f"embedding centroid ({TINY_SHAPE['hidden_size']} dims)" in reference_line(reference)
