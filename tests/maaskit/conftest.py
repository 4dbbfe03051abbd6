"""The CLI tests serve and invoke the runtime's test bundles (fixtures shared with tests/handlers)."""

from tests.handlers.conftest import bundles, samples

__all__ = ["bundles", "samples"]
