"""Stage the scheduled drift check's asset: its code, the bundle contract, and each model's reference.

The check needs numpy (PSI, centroids) and :mod:`bundle.reference`. numpy comes from the stack's
dependency layer (the one the model functions and pre-traffic hooks run on, CPython 3.11), as for the
hook (:mod:`infra.samples`), so the asset itself is a few hundred KB of Python: the ``bundle`` package,
the drift modules of ``infra/ops`` and ``infra/names.py`` at their import paths, and per model its
reference statistics (``references/<model>.json``, the deployed bundle's ``reference.json`` read by the
same :func:`bundle.reference.load_reference` as ``maaskit drift``) and, for text models, the
tokenizer's vocabulary (``vocabularies/<model>.txt``). The function then needs no registry read at all.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import AssetHashType
from aws_cdk import aws_lambda as lambda_

import bundle
from bundle.reference import load_reference, tokenizer_vocabulary
from infra.names import DRIFT_MODELS_FILE
from infra.packaging import bundling_options, tree_digest

__all__ = ["DRIFT_SOURCES", "DriftModel", "drift_code", "stage_drift_asset"]

_INFRA = Path(__file__).resolve().parent
#: The asset's Python, relative to the checkout (staged at the same paths, so imports stay as they are).
DRIFT_SOURCES = (
    "infra/__init__.py",
    "infra/names.py",
    "infra/ops/__init__.py",
    "infra/ops/aws.py",
    "infra/ops/errors.py",
    "infra/ops/capture_format.py",
    "infra/ops/drift.py",
    "infra/ops/drift_job.py",
)
_BUNDLE_PACKAGE = Path(bundle.__file__).resolve().parent


@dataclass(frozen=True)
class DriftModel:
    """One captured model: its deployed bundle, the capture version filter (None: SageMaker), its PSI threshold."""

    model: str
    bundle_dir: Path
    digest: str
    version: str | None
    threshold: float


def stage_drift_asset(out: Path, models: list[DriftModel]) -> None:
    """Write the drift check's asset into ``out`` (each bundle is opened, and so verified, first)."""
    for relative in DRIFT_SOURCES:
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_INFRA.parent / relative, target)
    shutil.copytree(_BUNDLE_PACKAGE, out / "bundle", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (out / "references").mkdir()
    (out / "vocabularies").mkdir()
    entries = []
    for item in models:
        opened = bundle.open_bundle(item.bundle_dir)
        reference = f"references/{item.model}.json"
        (out / reference).write_text(load_reference(opened).to_json(), encoding="utf-8")
        vocabulary = None
        if opened.manifest.text is not None:
            vocabulary = f"vocabularies/{item.model}.txt"
            words = tokenizer_vocabulary(opened.root / opened.manifest.text.tokenizer_file)
            (out / vocabulary).write_text("\n".join(sorted(words)), encoding="utf-8")
        entries.append(
            {
                "model": item.model,
                "version": item.version,
                "inputs": [spec.name for spec in opened.manifest.inputs],
                "dtypes": {spec.name: str(spec.dtype) for spec in opened.manifest.inputs},
                "threshold": item.threshold,
                "reference": reference,
                "vocabulary": vocabulary,
            }
        )
    (out / DRIFT_MODELS_FILE).write_text(json.dumps({"models": entries}, indent=1), encoding="utf-8")


def drift_code(models: list[DriftModel]) -> lambda_.Code:
    """The drift check's zip, keyed by its sources, the bundle package and each model's bundle and settings."""
    parts = [f"{relative}={tree_digest(_INFRA.parent / relative)}" for relative in DRIFT_SOURCES]
    parts.append(f"bundle-package={tree_digest(_BUNDLE_PACKAGE)}")
    parts.append(f"staging={hashlib.sha256(Path(__file__).read_bytes()).hexdigest()}")
    parts += [f"{m.model}={m.digest}:{m.version}:{m.threshold}" for m in models]
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return lambda_.Code.from_asset(
        str(_INFRA / "ops"),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=bundling_options(lambda out: stage_drift_asset(out, models), key=key),
    )
