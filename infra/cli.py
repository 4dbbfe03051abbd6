"""CLI commands of this phase: ``maaskit synth`` and ``maaskit deploy`` (registered by ``maaskit.cli``).

Both validate the deploy file here first (a bad key exits 2 with the key path and the allowed
values, before any CDK start-up), then run the CDK CLI that ``npm ci`` installed in
``node_modules/.bin/cdk`` against ``cdk.json``, with cdk-nag's AwsSolutions pack on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Annotated

import typer

from infra.names import stage_name

__all__ = ["cdk_command", "find_cdk", "register"]

REPO_ROOT = Path(__file__).resolve().parent.parent
_BAD_INPUT = 2
_ENV = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_CLI_TELEMETRY": "true"}

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The deploy file (YAML).")]
StageOption = Annotated[
    str, typer.Option("--stage", "-s", help="Stage to build: dev, prod, ... (stack maaskit-<stage>).")
]


class CdkNotFoundError(RuntimeError):
    """The CDK CLI is not installed in this checkout."""


def find_cdk(repo_root: Path = REPO_ROOT) -> Path:
    """``node_modules/.bin/cdk`` of the checkout; raise CdkNotFoundError saying how to install it."""
    local = repo_root / "node_modules" / ".bin" / "cdk"
    if local.is_file():
        return local
    hint = "install Node.js 20+ and npm, then" if shutil.which("npm") is None else "run"
    raise CdkNotFoundError(f"the CDK CLI is not installed in {repo_root}: {hint} `npm ci` there (package.json pins it)")


def cdk_command(cdk: Path, verb: str, config: Path, stage: str, *extra: str) -> list[str]:
    """The CDK CLI invocation for ``verb`` (synth or deploy) of one stage, cdk-nag on."""
    context = [f"maaskit:stage={stage}", f"maaskit:config={config.resolve()}", "maaskit:nag=true"]
    return [str(cdk), verb, *(arg for item in context for arg in ("--context", item)), *extra]


def _validate(config: Path, stage: str) -> None:
    from infra.config import ConfigError, load_config

    try:
        load_config(config, stage)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(_BAD_INPUT) from None


def _run(verb: str, config: Path, stage: str, *extra: str) -> int:
    _validate(config, stage)
    try:
        command = cdk_command(find_cdk(), verb, config, stage, *extra)
    except CdkNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(_BAD_INPUT) from None
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, env={**os.environ, **_ENV}, check=False)
    typer.echo(
        f"cdk {verb} of stage {stage}: exit {result.returncode} after {time.perf_counter() - started:.1f} s", err=True
    )
    return result.returncode


def synth(
    config: ConfigOption = Path("maaskit.deploy.yaml"),
    stage: StageOption = "dev",
    output: Annotated[Path | None, typer.Option(help="Cloud assembly directory (default: cdk.out).")] = None,
) -> None:
    """Synthesize the stage's CloudFormation template and assets offline, with cdk-nag (AwsSolutions) on."""
    extra = ["--quiet"] + (["--output", str(output.resolve())] if output else [])
    code = _run("synth", config, stage, *extra)
    raise typer.Exit(code)


def deploy(
    config: ConfigOption = Path("maaskit.deploy.yaml"),
    stage: StageOption = "dev",
    require_approval: Annotated[
        str, typer.Option(help="When cdk asks before deploying security changes: never, any-change, broadening.")
    ] = "broadening",
) -> None:
    """Deploy the stage to the AWS account of your credentials (``cdk bootstrap`` it once first)."""
    if require_approval not in {"never", "any-change", "broadening"}:
        typer.echo("error: --require-approval must be one of never, any-change, broadening", err=True)
        raise typer.Exit(_BAD_INPUT)
    code = _run("deploy", config, stage, stage_name(stage), "--require-approval", require_approval)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``synth`` and ``deploy`` to the ``maaskit`` app."""
    app.command("synth")(synth)
    app.command("deploy")(deploy)
