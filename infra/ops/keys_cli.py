"""CLI of the consumer pieces: ``maaskit keys create|list|revoke|rotate``, ``maaskit usage``, ``maaskit drift``.

Registered into ``maaskit`` by ``maaskit.cli`` (``_PHASES``). boto3 and the bundle reader are imported
inside the commands. A key's value is printed once, to stdout, and written nowhere; every refusal
prints ``error: ...`` and exits 2.
"""

# ruff: noqa: PLR0917

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["keys_app", "register"]

Stage = Annotated[str | None, typer.Option("--stage", help="Stage name (default: $MAASKIT_STAGE or dev).")]
Consumer = Annotated[str, typer.Option("--consumer", help="Consumer name (lowercase letters, digits, . _ -).")]
Plan = Annotated[
    str | None,
    typer.Option("--plan", help="Usage plan, a name under api.consumers.plans (default: its default_plan)."),
]
Region = Annotated[str | None, typer.Option("--region", help="AWS region (default: boto3's chain, e.g. $AWS_REGION).")]
Profile = Annotated[str | None, typer.Option("--profile", help="AWS profile to use.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

keys_app = typer.Typer(help="Consumer API keys of an `auth: keys` stage.", no_args_is_help=True)


@contextmanager
def _ops_errors() -> Iterator[None]:
    from infra.ops.errors import OpsError

    try:
        yield
    except OpsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _session(region: str | None, profile: str | None) -> Any:
    from infra.ops.aws import make_session

    return make_session(region, profile)


def _stage(stage: str | None) -> str:
    from infra.ops.aws import resolve_stage

    return resolve_stage(stage)


def _show_new(new: Any, stage: str, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps({**asdict(new.key), "value": new.value}) + "\n")
        return
    typer.echo(f"created key {new.key.key_id} for consumer {new.key.consumer} on stage {stage} (plan {new.key.plan})")
    typer.echo(
        "the key, shown this once (it is stored nowhere; send it as `Authorization: Bearer <key>` or x-api-key):"
    )
    typer.echo(new.value)


@keys_app.command("create")
def create(
    consumer: Consumer, stage: Stage = None, plan: Plan = None, region: Region = None, profile: Profile = None,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Create a consumer's key on a plan and print it once."""
    with _ops_errors():
        from infra.ops.keys import create_key

        name = _stage(stage)
        _show_new(create_key(_session(region, profile), name, consumer, plan), name, as_json)


@keys_app.command("list")
def list_(
    stage: Stage = None,
    consumer: Annotated[str | None, typer.Option("--consumer", help="Only this consumer's keys.")] = None,
    region: Region = None,
    profile: Profile = None,
    as_json: AsJson = False,
) -> None:
    """List the stage's consumer keys (ids, plans, state; never the keys)."""
    with _ops_errors():
        from infra.ops.keys import list_keys

        name = _stage(stage)
        found = list_keys(_session(region, profile), name, consumer)
        if as_json:
            sys.stdout.write(json.dumps([asdict(k) for k in found], indent=2) + "\n")
            return
        if not found:
            typer.echo(f"no consumer keys on stage {name}")
            return
        typer.echo(f"{'consumer':<20} {'key id':<12} {'plan':<12} {'state':<8} created")
        for k in found:
            typer.echo(
                f"{k.consumer:<20} {k.key_id:<12} {k.plan:<12} {'enabled' if k.enabled else 'revoked':<8} {k.created}"
            )


@keys_app.command("revoke")
def revoke(consumer: Consumer, stage: Stage = None, region: Region = None, profile: Profile = None) -> None:
    """Disable a consumer's keys (refused within the authorizer's cache TTL, 60 s by default)."""
    with _ops_errors():
        from infra.ops.keys import revoke_key

        name = _stage(stage)
        for key in revoke_key(_session(region, profile), name, consumer):
            typer.echo(f"revoked key {key.key_id} of consumer {consumer} on stage {name}")


@keys_app.command("rotate")
def rotate(
    consumer: Consumer, stage: Stage = None, plan: Plan = None, region: Region = None, profile: Profile = None,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Create a new key for a consumer, print it once, then disable the old ones."""
    with _ops_errors():
        from infra.ops.keys import rotate_key

        name = _stage(stage)
        new, old = rotate_key(_session(region, profile), name, consumer, plan)
        _show_new(new, name, as_json)
        for key in old:
            typer.echo(f"revoked key {key.key_id} of consumer {consumer}", err=True)


def usage(
    stage: Stage = None,
    consumer: Annotated[str | None, typer.Option("--consumer", help="Only this consumer.")] = None,
    since: Annotated[str, typer.Option("--since", help="Window: 30m, 24h, 7d, 2w.")] = "7d",
    namespace: Annotated[str, typer.Option("--namespace", help="Metrics namespace (the service name).")] = "maaskit",
    region: Region = None,
    profile: Profile = None,
    as_json: AsJson = False,
) -> None:
    """Requests and tokens per consumer and model, from CloudWatch."""
    with _ops_errors():
        from infra.ops.usage import read_usage, render_usage

        name = _stage(stage)
        rows = read_usage(_session(region, profile), name, consumer=consumer, since=since, namespace=namespace)
        if as_json:
            sys.stdout.write(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
        else:
            sys.stdout.write(render_usage(rows, name, since))


def drift(
    model: Annotated[str, typer.Argument(help="Model name.")],
    stage: Stage = None,
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", help="The bundle served (default: pulled from the registry by the captured version)."),
    ] = None,
    bucket: Annotated[
        str | None, typer.Option("--bucket", help="Capture bucket (default: SSM /maaskit/<stage>/capture-bucket).")
    ] = None,
    threshold: Annotated[float, typer.Option("--threshold", help="PSI at which a feature is flagged.")] = 0.2,
    publish_metric: Annotated[bool, typer.Option("--publish/--no-publish", help="Put DriftPSI in CloudWatch.")] = True,
    namespace: Annotated[str, typer.Option("--namespace", help="Metrics namespace.")] = "maaskit",
    region: Region = None,
    profile: Profile = None,
    as_json: AsJson = False,
) -> None:
    """Compare captured inputs with the bundle's reference statistics; publish the largest PSI."""
    with _ops_errors():
        from bundle import open_bundle
        from bundle.reference import load_reference, tokenizer_vocabulary
        from infra.ops.drift import capture_bucket, drift_report, publish, read_captured, render_report
        from infra.ops.errors import NotFoundError

        session = _session(region, profile)
        name = _stage(stage)
        records = read_captured(session, capture_bucket(session, name, bucket), model)
        if bundle is None:
            from infra.ops.registry import resolve_bundle_ref

            version = next((r.get("version") for r in records if r.get("version")), None)
            if version is None:
                raise NotFoundError(
                    f"the captured records of {model} name no version (SageMaker's capture files them by endpoint "
                    "and variant); pass --bundle"
                )
            bundle = resolve_bundle_ref(f"registry:{model}@{version}", stage=name, session=session)
        opened = open_bundle(bundle)
        vocabulary = None
        if opened.manifest.text is not None:
            vocabulary = tokenizer_vocabulary(opened.root / opened.manifest.text.tokenizer_file)
        inputs = [spec.name for spec in opened.manifest.inputs]
        dtypes = {spec.name: str(spec.dtype) for spec in opened.manifest.inputs}
        report = drift_report(load_reference(opened), records, inputs, threshold, vocabulary, dtypes=dtypes)
        if publish_metric:
            publish(session, report, namespace)
        if as_json:
            sys.stdout.write(
                json.dumps({**asdict(report), "flagged": report.flagged, "max_psi": report.max_psi}) + "\n"
            )
        else:
            sys.stdout.write(render_report(report))


def register(app: typer.Typer) -> None:
    """Add ``keys``, ``usage`` and ``drift`` to the ``maaskit`` app."""
    app.add_typer(keys_app, name="keys", rich_help_panel="Consumers")
    app.command(rich_help_panel="Consumers")(usage)
    app.command(rich_help_panel="Consumers")(drift)
