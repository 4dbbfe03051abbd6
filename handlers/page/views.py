"""What the model page shows, read from the loaded bundles and the server's own metrics (no HTML here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from bundle import Manifest
from handlers.engine import ModelRepository, ModelRuntime
from handlers.labels import label_output_values
from handlers.metrics import Metrics, VersionStats

__all__ = ["SAMPLE_ROWS", "ModelView", "VersionView", "model_view", "pretty_json", "sample_request"]

#: Rows of the bundle's own samples prefilled in the "try it" form.
SAMPLE_ROWS = 2


def pretty_json(value: Any, indent: int = 0) -> str:
    """JSON with objects indented and every innermost list (one row) on one line."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict) and value:
        items = [f"{inner}{orjson.dumps(str(k)).decode()}: {pretty_json(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(item, list | dict) for item in value):
        return "[\n" + ",\n".join(inner + pretty_json(item, indent + 1) for item in value) + f"\n{pad}]"
    return orjson.dumps(value).decode().replace(",", ", ")


@dataclass(frozen=True)
class VersionView:
    """One loaded version of a model, as the page shows it."""

    version: str
    latest: bool
    ready: bool
    manifest: Manifest
    providers: list[str]
    stats: VersionStats | None


@dataclass(frozen=True)
class ModelView:
    """A model: its versions (oldest first), the one shown, its sample request and expected answer."""

    name: str
    versions: list[VersionView]
    shown: VersionView
    sample_inputs: dict[str, Any]
    sample_outputs: dict[str, Any]

    @property
    def sample_body(self) -> str:
        """The maaskit JSON body prefilled in the form (``{"inputs": {...}}``)."""
        return pretty_json({"inputs": self.sample_inputs})


def _shortest(value: np.floating[Any]) -> float:
    """The shortest decimal that reads back as the same float32 (``5.1``, not ``5.099999904632568``)."""
    return float(str(value))


def _jsonable(array: np.ndarray) -> Any:
    if array.dtype in (np.float32, np.float16):
        shortest = [_shortest(value) for value in array.ravel()]  # iterating yields float32 scalars
        return np.asarray(shortest, dtype=np.float64).reshape(array.shape).tolist()
    if array.dtype.kind in "US":
        return array.astype(str).tolist()
    if array.dtype.kind == "O":
        return [str(item) for item in array.ravel().tolist()]
    return array.tolist()


def _as_declared(manifest: Manifest, name: str, value: np.ndarray) -> np.ndarray:
    """A sample input in the dtype the signature declares (samples.npz may hold wider floats)."""
    spec = manifest.input_spec(name)
    array = np.asarray(value)
    if spec is not None and spec.dtype in {"float32", "float16"} and array.dtype.kind == "f":
        return array.astype(spec.dtype)
    return array


def sample_request(runtime: ModelRuntime, rows: int = SAMPLE_ROWS) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first ``rows`` sample inputs and the ORIGINAL model's outputs for them, as JSON values."""
    samples = runtime.bundle.samples()
    if runtime.manifest.image is not None:  # stored image files: base64 in maaskit JSON, as clients send them
        import base64

        from bundle.processing.image import unpack_images

        images = unpack_images(samples.inputs)[:1]
        inputs: dict[str, Any] = {"image": [{"b64": base64.b64encode(image).decode()} for image in images]}
        kept = {name: np.asarray(value)[: len(images)] for name, value in samples.outputs.items()}
        return inputs, {name: _jsonable(value) for name, value in kept.items()}
    inputs = {
        name: _jsonable(_as_declared(runtime.manifest, name, value)[:rows]) for name, value in samples.inputs.items()
    }
    outputs = {
        name: _jsonable(label_output_values(runtime.manifest, name, np.asarray(value)[:rows]))
        for name, value in samples.outputs.items()
    }
    return inputs, outputs


def _stats(metrics: Metrics | None) -> dict[tuple[str, str], VersionStats]:
    if metrics is None:
        return {}
    return {(stat.model, stat.version): stat for stat in metrics.version_stats()}


def model_view(repository: ModelRepository, name: str, metrics: Metrics | None) -> ModelView:
    """Everything the page shows for model ``name`` (raises ModelNotFoundError when it is not loaded)."""
    latest = repository.get(name)
    stats = _stats(metrics)
    versions = [
        VersionView(
            version=runtime.version,
            latest=runtime.version == latest.version,
            ready=runtime.ready,
            manifest=runtime.manifest,
            providers=runtime.providers,
            stats=stats.get((name, runtime.version)),
        )
        for runtime in repository.versions(name)
    ]
    shown = next(view for view in versions if view.latest)
    inputs, outputs = sample_request(latest)
    return ModelView(name=name, versions=versions, shown=shown, sample_inputs=inputs, sample_outputs=outputs)
