"""The ``maaskit`` command: wires each phase's subcommands into one typer app.

Each phase owns its commands (``model_packager.cli``, ``maaskit.run_cli``,
``infra.cli``); this module only registers them.
"""

from __future__ import annotations

import importlib

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="maaskit",
    help="Package trained models as verified ONNX bundles, serve them, deploy them to AWS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_PHASES = (
    "model_packager.cli",
    "maaskit.run_cli",
    "maaskit.chat_cli",
    "infra.cli",
    "infra.ops.cli",
    "infra.ops.keys_cli",
)


def _register_phases() -> None:
    for module_name in _PHASES:
        module = importlib.import_module(module_name)
        module.register(app)


_register_phases()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
