"""StationControl: the narrow face of a running station; the pipeline implements it, the API and
line protocols use it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from inspector.domain import Frame
from inspector.model.card import ModelCard, Thresholds


@dataclass(frozen=True)
class TriggerReceipt:
    """What a trigger caller gets back: the part's id, and whether it was a retry."""

    part_id: str
    part_ref: str | None = None
    duplicate: bool = False  # the part_ref was announced before: this is that same part


@dataclass(frozen=True)
class ActiveModel:
    """The model the station judges with now."""

    bundle: Path
    card: ModelCard

    @property
    def version(self) -> str:
        return self.card.version


@runtime_checkable
class StationControl(Protocol):
    """Status, triggers, the latest frame and the model of one running station.

    Implemented by the Station; the API reaches the pipeline only through this. Every method is
    safe to call from any thread and returns quickly (activation loads the model in the caller's
    thread, then swaps it in between two batches: parts in flight finish on the old model).
    """

    station_id: str

    def status(self) -> dict[str, Any]:
        """The station's metrics as plain JSON (StationMetrics.to_dict())."""
        ...

    def trigger(self, serial: str | None = None, part_ref: str | None = None,
                meta: dict[str, Any] | None = None) -> TriggerReceipt:
        """Announce a part; a part_ref seen before returns that part instead of a new one.

        Raises StationStateError when the station does not take triggers now.
        """
        ...

    def latest_frame(self) -> Frame | None:
        """The newest captured frame (for a live view), None before the first."""
        ...

    def active_model(self) -> ActiveModel:
        ...

    def activate_model(self, bundle: Path) -> ActiveModel:
        """Load the bundle and judge every later part with it; raises ModelError if it cannot."""
        ...

    def set_thresholds(self, thresholds: Thresholds) -> ActiveModel:
        """Judge every later part with these thresholds (the active model's card otherwise)."""
        ...
