"""A model's SageMaker endpoint: production variants and their weights; weight changes.

Each variant's bundle version comes from the tag ``maaskit:version`` on its SageMaker Model
(set by the CDK app). Variant weights are relative; they are shown as percentages. Variants are
ordered by bundle version, then ``primary`` before the others (the CDK app's ``primary`` and
``challenger``), so without tags the challenger is the one being shifted to.
"""

from __future__ import annotations

from typing import Any

from bundle.semver import semver_key
from infra.names import PRIMARY_VARIANT, VERSION_TAG, resource_name, resource_prefix
from infra.ops.aws import aws_errors
from infra.ops.state import Plan, Slot, TrafficState

__all__ = ["VERSION_TAG", "apply_sagemaker_plan", "read_sagemaker_state", "sagemaker_models"]

_SETTLED = "InService"


def _missing_endpoint(endpoint: str) -> Any:
    def message(code: str) -> str:
        # SageMaker answers ValidationException "Could not find endpoint ..." for a missing endpoint.
        return (
            f"SageMaker endpoint {endpoint} does not exist; deploy the model first"
            if code == "ValidationException"
            else ""
        )

    return message


def sagemaker_models(session: Any, stage: str) -> list[str]:
    """Models of ``stage`` served by SageMaker endpoints ``maaskit-<stage>-*``."""
    prefix = resource_prefix(stage)
    names: list[str] = []
    with aws_errors("listing SageMaker endpoints"):
        for page in session.client("sagemaker").get_paginator("list_endpoints").paginate(NameContains=prefix):
            names.extend(e["EndpointName"] for e in page["Endpoints"] if e["EndpointName"].startswith(prefix))
    return sorted(name[len(prefix) :] for name in names)


def _model_version(client: Any, model_name: str) -> str | None:
    arn = client.describe_model(ModelName=model_name)["ModelArn"]
    tags = client.list_tags(ResourceArn=arn).get("Tags", [])
    return next((tag["Value"] for tag in tags if tag["Key"] == VERSION_TAG), None)


def read_sagemaker_state(session: Any, stage: str, model: str) -> TrafficState:
    """Variants with their weights, bundle versions and the endpoint status."""
    client = session.client("sagemaker")
    endpoint = resource_name(stage, model)
    with aws_errors(f"reading SageMaker endpoint {endpoint}", _missing_endpoint(endpoint)):
        described = client.describe_endpoint(EndpointName=endpoint)
        config = client.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
        configured = {variant["VariantName"]: variant for variant in config["ProductionVariants"]}
        slots, raw = [], {}
        for variant in described.get("ProductionVariants", []):
            name = variant["VariantName"]
            spec = configured.get(name, {})
            version = _model_version(client, spec["ModelName"]) if spec.get("ModelName") else None
            count = variant.get("CurrentInstanceCount", spec.get("InitialInstanceCount", "?"))
            slots.append(Slot(name, version, f"{count} x {spec.get('InstanceType', 'serverless')}"))
            raw[name] = float(variant.get("CurrentWeight", spec.get("InitialVariantWeight", 0.0)))
    total = sum(raw.values()) or 1.0
    weights = {name: weight * 100 / total for name, weight in raw.items() if weight > 0}
    by_version = sorted(slots, key=lambda slot: (semver_key(slot.model_version or ""), slot.id != PRIMARY_VARIANT))
    live = [slot for slot in by_version if slot.id in weights]
    notes: tuple[str, ...] = ()
    if len(live) == 2:
        primary, shifting_to = live[0].id, live[1].id
    else:
        primary = max(weights, key=lambda name: weights[name]) if weights else slots[0].id
        shifting_to = None
        if len(live) > 2:
            notes = ("more than two variants take traffic: promote --to one version to settle the split",)
    primary_key = semver_key(next(s.model_version or "" for s in slots if s.id == primary))
    older = [slot for slot in by_version if slot.model_version and semver_key(slot.model_version) < primary_key]
    status = described["EndpointStatus"]
    deployment = None
    if status != _SETTLED:
        deployment = f"the endpoint is {status} (a deployment or weight update is running)"
    return TrafficState(
        target="sagemaker",
        resource=endpoint,
        model=model,
        slots=tuple(by_version),
        weights=weights,
        primary=primary,
        shifting_to=shifting_to,
        previous=older[-1].id if older and shifting_to is None else None,
        deployment=deployment,
        status=status,
        notes=notes,
    )


def apply_sagemaker_plan(session: Any, plan: Plan) -> None:
    """Set every variant's weight (0 for those the plan leaves out); capacity is unchanged."""
    desired = [{"VariantName": slot.id, "DesiredWeight": plan.weights.get(slot.id, 0.0)} for slot in plan.state.slots]
    with aws_errors(f"updating weights of {plan.state.resource}", _missing_endpoint(plan.state.resource)):
        session.client("sagemaker").update_endpoint_weights_and_capacities(
            EndpointName=plan.state.resource, DesiredWeightsAndCapacities=desired
        )
