"""Plans for shift, promote and rollback: every check happens here, before anything changes.

The rules, the same on Lambda and SageMaker:

- refuse while an automated deployment (CodeDeploy, SageMaker update) runs on the endpoint;
- ``shift --to V --percent P``: 0 < P < 100; V exists and is not already live; a shift to
  another version in progress must be promoted or rolled back first (re-shifting to the same
  version changes its percent);
- ``promote``: all traffic to the version being shifted to (or to ``--to V``);
- ``rollback``: during a shift, all traffic back to the version that had it; otherwise to
  the previous live version (``TrafficState.previous``).
"""

from __future__ import annotations

import math

from infra.ops.errors import NotFoundError, RefusedError
from infra.ops.state import Plan, TrafficState, format_weights

__all__ = ["check_no_deployment", "plan_promote", "plan_rollback", "plan_shift"]


def check_no_deployment(state: TrafficState, action: str) -> None:
    """Refuse when an automated deployment is moving this endpoint's traffic."""
    if state.deployment:
        raise RefusedError(
            f"refusing to {action} {state.resource}: {state.deployment}. Wait for it to finish "
            "(`maaskit status` shows it), or stop it in CodeDeploy / SageMaker, then retry"
        )


def _slot_for(state: TrafficState, version: str) -> str:
    slot = state.find(version)
    if slot is None:
        known = ", ".join(s.model_version or s.id for s in state.slots) or "none"
        raise NotFoundError(
            f"{state.resource} has no version {version!r} deployed (deployed: {known}); "
            "deploy it first (`maaskit deploy`), then shift traffic to it"
        )
    return slot.id


def plan_shift(state: TrafficState, version: str, percent: float) -> Plan:
    """Send ``percent`` of the traffic to ``version``, the rest to the live version."""
    check_no_deployment(state, "shift traffic on")
    if not math.isfinite(percent) or not 0 < percent < 100:
        raise RefusedError(
            f"--percent must be strictly between 0 and 100 (got {percent:g}); "
            "use `maaskit promote` to send all traffic, `maaskit rollback` to send none"
        )
    if state.primary == "$LATEST":
        raise RefusedError(
            f"{state.resource} points at $LATEST, which cannot share traffic; "
            "deploy with maaskit (it publishes versions) or `maaskit promote --to` a published version first"
        )
    target = _slot_for(state, version)
    if target == state.primary:
        raise RefusedError(f"{state.slot(target).label} already takes the live traffic of {state.resource}")
    if state.shifting_to not in (None, target):
        raise RefusedError(
            f"a shift to {state.slot(state.shifting_to).label} is in progress on {state.resource}; "
            "`maaskit promote` or `maaskit rollback` it first"
        )
    weights = {state.primary: 100 - percent, target: percent}
    summary = f"shift {state.resource}: {format_weights(state, weights)}"
    return Plan("shift", state, weights, state.primary, target, summary)


def plan_promote(state: TrafficState, version: str | None = None) -> Plan:
    """All traffic to the version being shifted to, or to ``version``."""
    check_no_deployment(state, "promote on")
    target = _slot_for(state, version) if version else state.shifting_to
    if target is None:
        raise RefusedError(
            f"no shift in progress on {state.resource} (live: {state.slot(state.primary).label}); "
            "start one with `maaskit shift NAME --to VERSION --percent P`, or pass --to VERSION"
        )
    if target == state.primary and state.shifting_to is None:
        raise RefusedError(f"{state.slot(target).label} already takes all the traffic of {state.resource}")
    weights = {target: 100.0}
    previous = state.primary if target != state.primary else None
    summary = f"promote {state.resource}: 100% -> {state.slot(target).label}"
    if previous:
        summary += f" (was {state.slot(previous).label}; `maaskit rollback` returns to it)"
    return Plan("promote", state, weights, target, None, summary, extra={"previous": previous or ""})


def plan_rollback(state: TrafficState) -> Plan:
    """All traffic back to the previous version (or, during a shift, to the version that had it)."""
    check_no_deployment(state, "roll back")
    if state.shifting_to is not None:
        target = state.primary
        summary = f"rollback {state.resource}: shift to {state.slot(state.shifting_to).label} cancelled, "
    elif state.previous is not None:
        target = state.previous
        summary = f"rollback {state.resource}: {state.slot(state.primary).label} taken out, "
    else:
        raise RefusedError(
            f"nothing to roll back to on {state.resource}: {state.slot(state.primary).label} is live and no "
            "earlier maaskit version is deployed. Deploy the version you want and `maaskit promote --to` it"
        )
    summary += f"100% -> {state.slot(target).label}"
    return Plan("rollback", state, {target: 100.0}, target, None, summary, extra={"from": state.primary})
