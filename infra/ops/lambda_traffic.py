"""The ``live`` alias of a model's Lambda function: read its traffic, apply a plan.

Bundle versions map to Lambda versions through the version description
(``maaskit <model> <version> sha256:<hex>``, see :mod:`infra.names`).
"""

from __future__ import annotations

from typing import Any

from infra.names import (
    CODEDEPLOY_GROUP,
    LIVE_ALIAS,
    alias_note,
    codedeploy_application,
    format_alias_note,
    parse_version_description,
    resource_name,
    resource_prefix,
)
from infra.ops.aws import aws_errors
from infra.ops.codedeploy import running_deployment
from infra.ops.errors import RefusedError
from infra.ops.state import Plan, Slot, TrafficState

__all__ = ["apply_lambda_plan", "lambda_models", "read_lambda_state"]


def _missing_function(function: str) -> Any:
    def message(code: str) -> str:
        if code != "ResourceNotFoundException":
            return ""
        return f"Lambda function {function} or its alias {LIVE_ALIAS!r} does not exist; deploy the model first"

    return message


def lambda_models(session: Any, stage: str) -> list[str]:
    """Models of ``stage`` served by Lambda (functions ``maaskit-<stage>-*`` that have a ``live`` alias)."""
    client = session.client("lambda")
    prefix = resource_prefix(stage)
    names: list[str] = []
    with aws_errors("listing Lambda functions"):
        for page in client.get_paginator("list_functions").paginate():
            names.extend(f["FunctionName"] for f in page["Functions"] if f["FunctionName"].startswith(prefix))
        models = []
        for name in sorted(names):
            aliases = client.list_aliases(FunctionName=name).get("Aliases", [])
            if any(alias["Name"] == LIVE_ALIAS for alias in aliases):
                models.append(name[len(prefix) :])
    return models


def _previous(slots: list[Slot], primary: str, description: str | None) -> str | None:
    """Rollback target: the alias note's ``previous`` when the note is current, else the
    highest-numbered maaskit version below the live one."""
    ids = {slot.id for slot in slots}
    note = alias_note(description, primary)
    if note is not None and note.previous in ids:
        return note.previous
    if not primary.isdigit():
        return None
    earlier = [int(s.id) for s in slots if s.model_version and s.id.isdigit() and int(s.id) < int(primary)]
    return str(max(earlier)) if earlier else None


def read_lambda_state(session: Any, stage: str, model: str) -> TrafficState:
    """Versions, alias target and routing weights, and any CodeDeploy deployment in progress."""
    client = session.client("lambda")
    function = resource_name(stage, model)
    slots: list[Slot] = []
    with aws_errors(f"reading Lambda function {function}", _missing_function(function)):
        for page in client.get_paginator("list_versions_by_function").paginate(FunctionName=function):
            for item in page["Versions"]:
                if item["Version"] == "$LATEST":
                    continue
                tag = parse_version_description(item.get("Description"))
                version = tag.version if tag and tag.model == model else None
                slots.append(Slot(item["Version"], version, f"published {str(item.get('LastModified', ''))[:19]}"))
        alias = client.get_alias(FunctionName=function, Name=LIVE_ALIAS)
    slots.sort(key=lambda slot: int(slot.id) if slot.id.isdigit() else -1)
    primary = str(alias["FunctionVersion"])
    routing = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    weights = {str(v): float(w) * 100 for v, w in routing.items() if float(w) > 0}
    weights[primary] = 100 - sum(weights.values())
    shifting_to = next(iter(weights.keys() - {primary}), None)
    deployment, note = running_deployment(
        session.client("codedeploy"), codedeploy_application(stage, model), CODEDEPLOY_GROUP
    )
    notes = tuple(n for n in [note] if n)
    if primary == "$LATEST":
        slots.append(Slot("$LATEST", None, "unpublished code"))
        notes += ("the alias points at $LATEST, not a published version: deploy with maaskit to publish one",)
    return TrafficState(
        target="lambda",
        resource=f"{function}:{LIVE_ALIAS}",
        model=model,
        slots=tuple(slots),
        weights=weights,
        primary=primary,
        shifting_to=shifting_to,
        previous=_previous(slots, primary, alias.get("Description")),
        deployment=deployment,
        status=f"alias {LIVE_ALIAS} -> version {primary}",
        notes=notes,
        revision=alias.get("RevisionId"),
    )


def apply_lambda_plan(session: Any, plan: Plan) -> None:
    """Update the alias to the plan's weights (failing if the alias changed since it was read)."""
    state = plan.state
    function = state.resource.split(":")[0]
    extra: dict[str, Any] = {}
    if plan.action == "promote" and plan.extra.get("previous"):
        extra["Description"] = format_alias_note(plan.primary, previous=plan.extra["previous"])
    elif plan.action == "rollback" and state.shifting_to is None:
        extra["Description"] = format_alias_note(plan.primary, rolled_back_from=plan.extra["from"])
    if state.revision:
        extra["RevisionId"] = state.revision
    additional = {slot: share / 100 for slot, share in plan.weights.items() if slot != plan.primary}
    from botocore.exceptions import ClientError

    with aws_errors(f"updating alias {state.resource}", _missing_function(function)):
        try:
            session.client("lambda").update_alias(
                FunctionName=function,
                Name=LIVE_ALIAS,
                FunctionVersion=plan.primary,
                RoutingConfig={"AdditionalVersionWeights": additional},
                **extra,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "PreconditionFailedException":
                raise RefusedError(
                    f"{state.resource} changed while this command ran; nothing was changed: "
                    "run `maaskit status` and retry"
                ) from None
            raise
