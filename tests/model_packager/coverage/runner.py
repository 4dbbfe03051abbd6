"""Run one coverage case: package through ``model_packager.package()``, serve it as ``maaskit serve`` does
(handlers' ModelRepository, verified and warmed up), and answer one Open Inference Protocol request."""

from __future__ import annotations

import asyncio
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import model_packager
from model_packager.converters.base import PackagingError
from tests.model_packager.coverage.cases import Case

__all__ = ["Outcome", "run_case"]


@dataclass
class Outcome:
    """What a case did: ``passed`` (packaged, served, answered) or ``refused`` (with the message)."""

    case: Case
    status: str
    message: str = ""
    parity: str = ""
    size: int = 0
    seconds: float = 0.0
    framework: str = ""
    task: str = ""
    labels: list[str] | list[int] | None = None


def _name(case: Case) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", case.id.lower()).strip("-")
    return slug[:48].strip("-")


def _parity_figure(report: Any) -> str:
    figures = []
    for check in report.checks:
        if check.metric == "label_agreement":
            figures.append(f"labels {check.measured:.3f}")
        elif check.metric == "max_abs_diff":
            figures.append(f"{check.measured:.1e}")
    return ", ".join(figures)


_DATATYPES = {"float32": "FP32", "float64": "FP64", "int64": "INT64", "int32": "INT32", "bool": "BOOL"}


def _finite_rows(inputs: dict[str, np.ndarray], rows: int) -> np.ndarray:
    """The first ``rows`` sample rows without NaN (JSON has no NaN; imputers' samples hold some)."""
    count = len(next(iter(inputs.values())))
    keep = np.ones(count, dtype=bool)
    for array in inputs.values():
        if array.dtype.kind == "f" and array.ndim:
            keep &= np.isfinite(array.reshape(count, -1)).all(axis=1)
    return np.flatnonzero(keep)[:rows]


def _oip_request(inputs: dict[str, np.ndarray], rows: int) -> dict[str, Any]:
    body = []
    chosen = _finite_rows(inputs, rows)
    for name, array in inputs.items():
        part = array[chosen]
        datatype = "BYTES" if part.dtype.kind in "OUS" else _DATATYPES[str(part.dtype)]
        data = [str(value) for value in part.ravel()] if datatype == "BYTES" else part.ravel().tolist()
        body.append({"name": name, "shape": list(part.shape), "datatype": datatype, "data": data})
    return {"inputs": body}


def serve_and_ask(archive: Path, name: str, rows: int = 3) -> dict[str, Any]:
    """Load the bundle like ``maaskit serve`` and POST one OIP v2 infer request; the decoded outputs."""
    from bundle import open_bundle
    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.settings import Settings

    settings = Settings.load(environ={}, access_log=False, intra_op_threads=1)
    repository = ModelRepository.load(settings, [archive])
    samples = open_bundle(archive, extract_to=archive.parent / f"{name}-served").samples()
    app = create_app(repository, settings)

    async def ask() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await client.post(f"/v2/models/{name}/infer", json=_oip_request(samples.inputs, rows))

    answer = asyncio.run(ask())
    assert answer.status_code == 200, f"{answer.status_code}: {answer.text[:500]}"
    outputs = {item["name"]: item for item in answer.json()["outputs"]}
    assert set(outputs) == set(samples.outputs), (sorted(outputs), sorted(samples.outputs))
    for output in outputs.values():
        assert output["shape"][0] == min(rows, len(next(iter(samples.inputs.values())))), output["shape"]
    return outputs


def run_case(case: Case, out: Path) -> Outcome:
    """Package, serve and call ``case``; a refusal is an Outcome, any other failure raises."""
    model, sample = case.build()
    name = _name(case)
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = model_packager.package(
                model,
                name=name,
                version="1.0.0",
                sample=sample,
                framework=case.framework,
                out=out,
                force=True,
                **dict(case.package_kwargs),
            )
    except PackagingError as exc:
        return Outcome(case, "refused", str(exc), seconds=time.perf_counter() - started)
    seconds = time.perf_counter() - started
    outputs = serve_and_ask(result.archive, name)
    manifest = result.manifest
    if manifest.task == "classifier" and manifest.label_output in outputs and manifest.labels:
        answered = outputs[manifest.label_output]["data"]
        allowed = {str(label) for label in manifest.labels} | {str(i) for i in range(len(manifest.labels))}
        assert {str(label) for label in answered} <= allowed, (answered, manifest.labels)
    return Outcome(
        case,
        "passed",
        parity=_parity_figure(result.parity),
        size=result.archive_size,
        seconds=seconds,
        framework=f"{manifest.framework.name} {manifest.framework.version}",
        task=manifest.task,
        labels=manifest.labels,
    )
