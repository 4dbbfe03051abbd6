"""The shift/promote/rollback rules on a target-independent state (no AWS involved)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.ops.errors import NotFoundError, RefusedError
from infra.ops.state import Slot, TrafficState, format_weights
from infra.ops.traffic import plan_promote, plan_rollback, plan_shift

SLOTS = (Slot("1", "1.0.0"), Slot("2", "1.1.0"), Slot("3", "2.0.0"), Slot("4", None))


def state(weights: dict[str, float], primary: str, shifting_to: str | None = None, **kw: Any) -> TrafficState:
    return TrafficState("lambda", "fn:live", "m", SLOTS, weights, primary, shifting_to, **kw)


def test_shift_by_model_version_or_lambda_version() -> None:
    plan = plan_shift(state({"2": 100}, "2"), "2.0.0", 12.5)
    assert plan.weights == {"2": 87.5, "3": 12.5}
    assert plan.shifting_to == "3"
    assert plan.summary == "shift fn:live: 87.5% -> version 2 (1.1.0), 12.5% -> version 3 (2.0.0)"
    assert plan_shift(state({"2": 100}, "2"), "4", 5).weights == {"2": 95, "4": 5}


@pytest.mark.parametrize("percent", [0, 100, -5, 150, float("nan")])
def test_shift_refuses_invalid_percent(percent: float) -> None:
    with pytest.raises(RefusedError, match="strictly between 0 and 100"):
        plan_shift(state({"1": 100}, "1"), "2.0.0", percent)


def test_shift_refusals_name_what_to_do() -> None:
    with pytest.raises(NotFoundError, match=r"no version '9.0.0' deployed \(deployed: 1.0.0, 1.1.0, 2.0.0, 4\)"):
        plan_shift(state({"1": 100}, "1"), "9.0.0", 10)
    with pytest.raises(RefusedError, match="already takes the live traffic"):
        plan_shift(state({"1": 100}, "1"), "1.0.0", 10)
    split = state({"1": 90, "2": 10}, "1", "2")
    with pytest.raises(RefusedError, match="shift to version 2 .* in progress .* promote. or .maaskit rollback"):
        plan_shift(split, "2.0.0", 10)
    assert plan_shift(split, "1.1.0", 50).weights == {"1": 50, "2": 50}  # same target: new percent
    running = state({"1": 100}, "1", deployment="CodeDeploy deployment d-1 is InProgress")
    with pytest.raises(RefusedError, match="d-1 is InProgress. Wait for it to finish"):
        plan_shift(running, "2.0.0", 10)
    with pytest.raises(RefusedError, match="d-1 is InProgress. Wait for it to finish"):
        plan_promote(running, "2.0.0")
    with pytest.raises(RefusedError, match="d-1 is InProgress. Wait for it to finish"):
        plan_rollback(running)


def test_promote() -> None:
    plan = plan_promote(state({"1": 90, "3": 10}, "1", "3"))
    assert plan.weights == {"3": 100} and plan.primary == "3" and plan.extra["previous"] == "1"
    with pytest.raises(RefusedError, match="no shift in progress"):
        plan_promote(state({"1": 100}, "1"))
    assert plan_promote(state({"1": 100}, "1"), "1.1.0").weights == {"2": 100}
    with pytest.raises(RefusedError, match="already takes all the traffic"):
        plan_promote(state({"1": 100}, "1"), "1.0.0")


def test_rollback_cancels_a_shift_or_goes_to_previous() -> None:
    cancel = plan_rollback(state({"1": 90, "3": 10}, "1", "3", previous=None))
    assert cancel.weights == {"1": 100}
    assert "shift to version 3 (2.0.0) cancelled" in cancel.summary
    back = plan_rollback(state({"3": 100}, "3", previous="2"))
    assert back.weights == {"2": 100} and back.extra["from"] == "3"
    with pytest.raises(RefusedError, match="nothing to roll back to"):
        plan_rollback(state({"1": 100}, "1"))


def test_format_weights_biggest_first() -> None:
    assert format_weights(state({}, "1"), {"3": 10, "1": 90}) == "90% -> version 1 (1.0.0), 10% -> version 3 (2.0.0)"
