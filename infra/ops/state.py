"""What an endpoint serves right now, independent of the target (Lambda alias or SageMaker variants)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Plan", "Slot", "TrafficState", "format_weights"]

Target = Literal["lambda", "sagemaker"]


@dataclass(frozen=True)
class Slot:
    """A deployable version: a published Lambda version or a SageMaker production variant."""

    id: str
    """Lambda version number, or variant name."""
    model_version: str | None
    """The bundle version it serves (None when it was not deployed by maaskit)."""
    detail: str = ""
    """Extra facts to show (publish date, instance type and count)."""

    @property
    def label(self) -> str:
        """``version 3 (1.2.0)`` for people."""
        kind = "version" if self.id.isdigit() or self.id == "$LATEST" else "variant"
        return f"{kind} {self.id} ({self.model_version or 'not maaskit'})"


@dataclass(frozen=True)
class TrafficState:
    """The traffic picture of one endpoint."""

    target: Target
    resource: str
    """``function:alias`` or the endpoint name."""
    model: str
    slots: tuple[Slot, ...]
    weights: dict[str, float]
    """Slot id -> percent of traffic (only slots that get traffic)."""
    primary: str
    """The slot holding the base of the traffic (alias version, or the old variant during a shift)."""
    shifting_to: str | None = None
    """The slot a shift in progress sends part of the traffic to."""
    previous: str | None = None
    """Where ``rollback`` goes when no shift is in progress."""
    deployment: str | None = None
    """An automated deployment running on this endpoint, described; None when there is none."""
    status: str = ""
    notes: tuple[str, ...] = ()
    revision: str | None = None
    """Lambda alias RevisionId read with the state: an update fails if someone changed it since."""

    def slot(self, slot_id: str) -> Slot:
        """The slot with this id."""
        return next(slot for slot in self.slots if slot.id == slot_id)

    def find(self, version: str) -> Slot | None:
        """The slot serving bundle ``version``, or whose id is ``version`` (newest first)."""
        for slot in reversed(self.slots):
            if slot.model_version == version:
                return slot
        return next((slot for slot in self.slots if slot.id == version), None)


@dataclass(frozen=True)
class Plan:
    """A change to make: the weights after it, and the words that describe it."""

    action: Literal["shift", "promote", "rollback"]
    state: TrafficState
    weights: dict[str, float]
    primary: str
    shifting_to: str | None
    summary: str
    extra: dict[str, str] = field(default_factory=dict)


def format_weights(state: TrafficState, weights: dict[str, float]) -> str:
    """``90% -> version 1 (1.0.0), 10% -> version 2 (2.0.0)``, biggest share first."""
    parts = sorted(weights.items(), key=lambda item: -item[1])
    return ", ".join(f"{_percent(share)} -> {state.slot(slot_id).label}" for slot_id, share in parts)


def _percent(share: float) -> str:
    text = f"{share:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"
