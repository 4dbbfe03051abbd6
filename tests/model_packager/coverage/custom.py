"""A scikit-learn transformer skl2onnx has no converter for (importable, so a pickle of it loads anywhere)."""

from __future__ import annotations

from sklearn.preprocessing import StandardScaler


class HomegrownScaler(StandardScaler):
    """A user's own subclass: skl2onnx knows StandardScaler, not this class."""
