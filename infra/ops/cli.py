"""CLI commands of the release phase: registry (push, models, versions, pull) and traffic
(status, shift, promote, rollback). Registered into ``maaskit`` by ``maaskit.cli``.

Heavy imports (boto3, rich tables, the bundle reader) happen inside the commands, so
``maaskit --help`` stays fast. Every refusal prints ``error: ...`` and exits with code 2.
"""

# Typer maps each parameter of a command to a CLI option, so commands take many of them.
# ruff: noqa: PLR0917

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["register"]

Stage = Annotated[str | None, typer.Option("--stage", help="Stage name (default: $MAASKIT_STAGE or dev).")]
Bucket = Annotated[
    str | None,
    typer.Option(
        "--bucket",
        help="Registry bucket (default: $MAASKIT_REGISTRY_BUCKET, else SSM /maaskit/<stage>/registry-bucket).",
    ),
]
Region = Annotated[str | None, typer.Option("--region", help="AWS region (default: boto3's chain, e.g. $AWS_REGION).")]
Profile = Annotated[str | None, typer.Option("--profile", help="AWS profile to use.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show the change without making it.")]
Target = Annotated[
    str, typer.Option("--target", help="auto, lambda or sagemaker (auto: the Lambda function, else the endpoint).")
]


@contextmanager
def _ops_errors() -> Iterator[None]:
    from infra.ops.errors import OpsError

    try:
        yield
    except OpsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def _registry(stage: str | None, bucket: str | None, region: str | None, profile: str | None) -> Any:
    from infra.ops.aws import make_session
    from infra.ops.bucket import resolve_bucket
    from infra.ops.registry import Registry

    session = make_session(region, profile)
    return Registry(session.client("s3"), resolve_bucket(session, bucket=bucket, stage=stage))


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def push(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory or .tar.gz archive.")],
    stage: Stage = None,
    bucket: Bucket = None,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Upload a verified bundle to the registry under NAME/VERSION/ (versions are immutable)."""
    with _ops_errors():
        from infra.ops.render import render_push

        render_push(_console(), _registry(stage, bucket, region, profile).push(bundle))


def models(
    stage: Stage = None, bucket: Bucket = None, region: Region = None, profile: Profile = None, as_json: AsJson = False
) -> None:
    """List the models in the registry."""
    with _ops_errors():
        from infra.ops.render import models_json, render_models

        registry = _registry(stage, bucket, region, profile)
        found = registry.models()
        _print_json(models_json(found)) if as_json else render_models(_console(), registry.bucket, found)


def versions(
    name: Annotated[str, typer.Argument(help="Model name.")],
    stage: Stage = None,
    bucket: Bucket = None,
    region: Region = None,
    profile: Profile = None,
    as_json: AsJson = False,
) -> None:
    """List a model's versions with size, parity, creation and push times."""
    with _ops_errors():
        from infra.ops.render import render_versions, versions_json

        rows = _registry(stage, bucket, region, profile).versions(name)
        _print_json(versions_json(rows)) if as_json else render_versions(_console(), name, rows)


def pull(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Model version, e.g. 1.2.0.")],
    out: Annotated[Path, typer.Option("--out", help="Directory to put the bundle in.")] = Path("bundles"),
    stage: Stage = None,
    bucket: Bucket = None,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Download a bundle, verify every checksum, and move it into --out atomically."""
    with _ops_errors():
        from infra.ops.render import render_pull

        render_pull(_console(), _registry(stage, bucket, region, profile).pull(name, version, out), name, version)


def _read_state(name: str, stage: str | None, target: str, region: str | None, profile: str | None) -> tuple[Any, Any]:
    from infra.names import resource_name
    from infra.ops.aws import make_session, resolve_stage
    from infra.ops.errors import NotFoundError, OpsError
    from infra.ops.lambda_traffic import read_lambda_state
    from infra.ops.sagemaker_traffic import read_sagemaker_state

    if target not in {"auto", "lambda", "sagemaker"}:
        raise OpsError(f"--target must be auto, lambda or sagemaker (got {target!r})")
    session = make_session(region, profile)
    stage_name = resolve_stage(stage)
    if target == "lambda":
        return session, read_lambda_state(session, stage_name, name)
    if target == "sagemaker":
        return session, read_sagemaker_state(session, stage_name, name)
    try:
        return session, read_lambda_state(session, stage_name, name)
    except NotFoundError:
        try:
            return session, read_sagemaker_state(session, stage_name, name)
        except NotFoundError:
            raise NotFoundError(
                f"neither a Lambda function nor a SageMaker endpoint named {resource_name(stage_name, name)} "
                f"exists in {session.region_name}; check the model name, --stage and --region"
            ) from None


def status(
    name: Annotated[str | None, typer.Argument(help="Model name (default: every model of the stage).")] = None,
    stage: Stage = None,
    target: Target = "auto",
    region: Region = None,
    profile: Profile = None,
    as_json: AsJson = False,
) -> None:
    """Show versions, traffic weights and running deployments of a model's endpoint."""
    with _ops_errors():
        from infra.ops.aws import make_session, resolve_stage
        from infra.ops.lambda_traffic import lambda_models, read_lambda_state
        from infra.ops.render import render_status, state_json
        from infra.ops.sagemaker_traffic import read_sagemaker_state, sagemaker_models

        if name is not None:
            states = [_read_state(name, stage, target, region, profile)[1]]
        else:
            session, stage_name = make_session(region, profile), resolve_stage(stage)
            states = [read_lambda_state(session, stage_name, m) for m in lambda_models(session, stage_name)]
            states += [read_sagemaker_state(session, stage_name, m) for m in sagemaker_models(session, stage_name)]
            if not states and not as_json:
                typer.echo(f"no maaskit endpoints for stage {stage_name!r} in {session.region_name}")
        if as_json:
            _print_json([state_json(state) for state in states])
            return
        console = _console()
        for index, state in enumerate(states):
            if index:
                console.print()
            render_status(console, state)


def _operate(name: str, stage: str | None, target: str, region: str | None, profile: str | None, dry_run: bool,
             make_plan: Callable[[Any], Any]) -> None:  # fmt: skip
    from infra.ops.lambda_traffic import apply_lambda_plan
    from infra.ops.render import render_plan
    from infra.ops.sagemaker_traffic import apply_sagemaker_plan

    session, state = _read_state(name, stage, target, region, profile)
    plan = make_plan(state)
    if not dry_run:
        (apply_lambda_plan if state.target == "lambda" else apply_sagemaker_plan)(session, plan)
    render_plan(_console(), plan, dry_run=dry_run)


def shift(
    name: Annotated[str, typer.Argument(help="Model name.")],
    to: Annotated[str, typer.Option("--to", help="Model version (or Lambda version number / variant) to shift to.")],
    percent: Annotated[float, typer.Option("--percent", help="Share of traffic for --to, strictly between 0 and 100.")],
    stage: Stage = None,
    target: Target = "auto",
    region: Region = None,
    profile: Profile = None,
    dry_run: DryRun = False,
) -> None:
    """Send PERCENT of the live traffic to a deployed version, the rest to the live one."""
    with _ops_errors():
        from infra.ops.traffic import plan_shift

        _operate(name, stage, target, region, profile, dry_run, lambda state: plan_shift(state, to, percent))


def promote(
    name: Annotated[str, typer.Argument(help="Model name.")],
    to: Annotated[
        str | None, typer.Option("--to", help="Version to promote (default: the one being shifted to).")
    ] = None,
    stage: Stage = None,
    target: Target = "auto",
    region: Region = None,
    profile: Profile = None,
    dry_run: DryRun = False,
) -> None:
    """Send all traffic to the version being shifted to (or to --to VERSION)."""
    with _ops_errors():
        from infra.ops.traffic import plan_promote

        _operate(name, stage, target, region, profile, dry_run, lambda state: plan_promote(state, to))


def rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    stage: Stage = None,
    target: Target = "auto",
    region: Region = None,
    profile: Profile = None,
    dry_run: DryRun = False,
) -> None:
    """Send all traffic back to the previous version (cancels a shift in progress)."""
    with _ops_errors():
        from infra.ops.traffic import plan_rollback

        _operate(name, stage, target, region, profile, dry_run, plan_rollback)


def register(app: typer.Typer) -> None:
    """Add this phase's commands to the ``maaskit`` app."""
    for command in (push, models, versions, pull, status, shift, promote, rollback):
        app.command(rich_help_panel="Release operations")(command)
