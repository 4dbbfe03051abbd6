"""maaskit: package trained models as verified ONNX bundles, serve them, deploy them."""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # Looked up on first use: the distribution metadata scan costs ~50 ms at every CLI start otherwise.
    if name == "__version__":
        from bundle.version import maaskit_version

        return maaskit_version()
    raise AttributeError(f"module 'maaskit' has no attribute {name!r}")
