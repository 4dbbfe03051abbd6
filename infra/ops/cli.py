"""CLI commands of this phase (registered into ``maaskit`` by ``maaskit.cli``)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this phase's commands to the ``maaskit`` app."""
