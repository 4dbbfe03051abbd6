"""How release operations look in a terminal (rich tables) and as JSON (``--json``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from bundle.parity import final_parity
from bundle.text import human_size
from infra.ops.registry import ModelSummary, PullResult, PushResult, RegistryVersion
from infra.ops.state import Plan, TrafficState, format_weights

__all__ = [
    "models_json",
    "render_models",
    "render_plan",
    "render_pull",
    "render_push",
    "render_status",
    "render_versions",
    "state_json",
    "versions_json",
]

_TARGET = {"lambda": "Lambda", "sagemaker": "SageMaker"}


def render_push(console: Console, result: PushResult) -> None:
    """One line: uploaded, or already there with the same content."""
    where = f"s3://{result.bucket}/{result.prefix}"
    if result.uploaded:
        console.print(f"pushed {result.name} {result.version} to {where} ({human_size(result.size)})")
    else:
        console.print(f"{result.name} {result.version} is already in {where} with the same content; nothing to do")


def render_pull(console: Console, result: PullResult, name: str, version: str) -> None:
    """Where the verified bundle is."""
    verb = "pulled and verified" if result.downloaded else "already present and identical:"
    console.print(f"{verb} {name} {version} -> {result.directory} (archive {result.archive})")


def render_models(console: Console, bucket: str, models: list[ModelSummary]) -> None:
    """Table of models in the registry."""
    if not models:
        console.print(f"no models in s3://{bucket} yet; `maaskit push BUNDLE` adds one")
        return
    table = Table("MODEL", "VERSIONS", "LATEST", "LAST PUSHED", box=box.SIMPLE, title=f"s3://{bucket}")
    for model in models:
        table.add_row(model.name, str(model.versions), model.latest, f"{model.last_pushed:%Y-%m-%d %H:%M}")
    console.print(table)


def render_versions(console: Console, name: str, rows: list[RegistryVersion]) -> None:
    """Table of one model's versions: size, parity, creation and push times."""
    table = Table("VERSION", "SIZE", "PARITY", "FRAMEWORK", "CREATED", "PUSHED", box=box.SIMPLE, title=name)
    for row in rows:
        framework = f"{row.manifest.framework.name} {row.manifest.framework.version}"
        table.add_row(
            row.version,
            human_size(row.size),
            row.parity,
            framework,
            row.manifest.created[:19].replace("T", " "),
            f"{row.pushed:%Y-%m-%d %H:%M}",
        )
    console.print(table)


def _role(state: TrafficState, slot_id: str) -> str:
    if slot_id == state.shifting_to:
        return "shifting to"
    if slot_id == state.primary:
        return "live"
    if slot_id == state.previous:
        return "rollback target"
    return ""


def render_status(console: Console, state: TrafficState) -> None:
    """Versions with their share of traffic, what is live, what is running."""
    id_header = "LAMBDA VERSION" if state.target == "lambda" else "VARIANT"
    table = Table(id_header, "MODEL VERSION", "TRAFFIC", "ROLE", "DETAIL", box=box.SIMPLE)
    for slot in state.slots:
        share = state.weights.get(slot.id)
        traffic = f"{share:.2f}".rstrip("0").rstrip(".") + "%" if share else "-"
        table.add_row(slot.id, slot.model_version or "(not maaskit)", traffic, _role(state, slot.id), slot.detail)
    console.print(f"[bold]{state.model}[/bold] on {_TARGET[state.target]}: {state.resource} ({state.status})")
    console.print(table)
    console.print(f"traffic: {format_weights(state, state.weights)}")
    console.print(f"deployment: {state.deployment or 'none running'}")
    for note in state.notes:
        console.print(f"note: {note}")


def render_plan(console: Console, plan: Plan, *, dry_run: bool) -> None:
    """What changed (or, with --dry-run, what would change)."""
    before = format_weights(plan.state, plan.state.weights)
    after = format_weights(plan.state, plan.weights)
    if dry_run:
        console.print(f"dry run, nothing changed: would {plan.summary}")
    else:
        console.print(plan.summary[0].upper() + plan.summary[1:])
    console.print(f"  before: {before}")
    console.print(f"  {'would be' if dry_run else 'after'}: {after}")


def state_json(state: TrafficState) -> dict[str, Any]:
    """The status as plain JSON-able data."""
    data = asdict(state)
    data.pop("revision", None)
    return data


def models_json(models: list[ModelSummary]) -> list[dict[str, Any]]:
    """Registry models as JSON-able rows."""
    return [{**asdict(m), "last_pushed": m.last_pushed.isoformat()} for m in models]


def versions_json(rows: list[RegistryVersion]) -> list[dict[str, Any]]:
    """Registry versions as JSON-able rows: ``parity`` is the final report in full (after optimization or int8,
    when applied), ``conversion_parity`` the conversion's when it differs."""
    return [
        {
            "name": row.name,
            "version": row.version,
            "size": row.size,
            "pushed": row.pushed.isoformat(),
            "created": row.manifest.created,
            "parity": final_parity(row.manifest).model_dump(mode="json"),
            **(
                {"conversion_parity": row.manifest.parity.model_dump(mode="json")}
                if row.manifest.optimization is not None
                else {}
            ),
            "framework": row.manifest.framework.model_dump(mode="json"),
        }
        for row in rows
    ]
