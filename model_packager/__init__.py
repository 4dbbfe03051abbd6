"""Build phase: convert trained models to ONNX, gate on parity, write bundles.

``model_packager.package`` is imported lazily so that ``import model_packager``
(and the ``maaskit`` CLI) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from model_packager.api import PackageResult, package
    from model_packager.converters.image_folder import ImagePreprocessing
    from model_packager.converters.image_source import ImageClassifier
    from model_packager.parity import ParityError, Tolerances

__all__ = ["ImageClassifier", "ImagePreprocessing", "PackageResult", "ParityError", "Tolerances", "package"]

_EXPORTS = {
    "ImageClassifier": "model_packager.converters.image_source",
    "ImagePreprocessing": "model_packager.converters.image_folder",
    "PackageResult": "model_packager.api",
    "package": "model_packager.api",
    "ParityError": "model_packager.parity",
    "Tolerances": "model_packager.parity",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'model_packager' has no attribute {name!r}")
