"""Validate upstream process events and store them idempotently, good ones even beside bad ones."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from inspector.errors import TraceError
from inspector.storage.events import EventStore, ProcessEvent
from inspector.trace.missing import without_missing

logger = logging.getLogger(__name__)

MAX_PARAMETERS = 200
MAX_TEXT = 256
MAX_ERRORS = 100   # errors kept in a result; `rejected` still counts them all

NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"  # PostgreSQL refuses NUL in text; logs and CSVs hate the rest
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                        pattern=NO_CONTROL)]


class EventIn(BaseModel):
    """One process event as machines send it (JSON object, CSV row after parsing)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    serial: str = Field(min_length=1, max_length=128, pattern=NO_CONTROL,
                        description="Part serial (join key).")
    machine: str = Field(min_length=1, max_length=64, pattern=NO_CONTROL,
                         description="Machine id, e.g. kiln-2.")
    step: str = Field(min_length=1, max_length=64, pattern=NO_CONTROL,
                      description="Process step, e.g. firing.")
    timestamp: datetime = Field(description="ISO 8601 with a zone (Z or +hh:mm).")
    parameters: dict[Name, Any] = Field(
        default_factory=dict, description="Parameter name -> number or string; null, NaN, '' "
        "and markers such as 'n/a' are missing values and left out."
    )

    @field_validator("timestamp", mode="before")
    @classmethod
    def _iso_aware(cls, value: Any) -> datetime:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(f"{value!r} is not ISO 8601 (e.g. 2024-05-01T08:00:00Z)") from None
        if not isinstance(value, datetime):
            raise ValueError("must be an ISO 8601 string such as 2024-05-01T08:00:00Z")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("has no time zone; add Z (UTC) or an offset such as +02:00")
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"{value.isoformat()} is outside the years 1-9999 in UTC") from None
        return value

    @field_validator("parameters")
    @classmethod
    def _values(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_PARAMETERS:
            raise ValueError(f"has {len(value)} entries, at most {MAX_PARAMETERS}")
        value = without_missing(value)
        for name, item in value.items():
            _check_value(name, item)
        return value

    def to_event(self) -> ProcessEvent:
        """The validated event with its time in UTC."""
        return ProcessEvent(
            self.serial, self.machine, self.step, self.timestamp.astimezone(UTC),
            dict(self.parameters),
        )


@dataclass(frozen=True)
class EventError:
    """Why the event at `index` (position in the batch; data row for CSV) was rejected."""

    index: int
    message: str


@dataclass(frozen=True)
class IngestResult:
    """What happened to a batch: stored new, already known, rejected (first errors kept),
    and revised: stored events replaced by a corrected version (the earlier kept as a revision).
    """

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: tuple[EventError, ...] = ()
    revised: int = 0

    def __add__(self, other: IngestResult) -> IngestResult:
        errors = (self.errors + other.errors)[:MAX_ERRORS]
        return IngestResult(
            self.received + other.received, self.stored + other.stored,
            self.duplicates + other.duplicates, self.rejected + other.rejected, errors,
            self.revised + other.revised,
        )


def _check_value(name: str, value: Any) -> None:
    # bool is an int subclass in Python, but true/false is not a process measurement
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name!r} must be a number or a string, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name!r} is {value}; only finite numbers are stored")
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise ValueError(f"{name!r} is {len(value)} characters, at most {MAX_TEXT}")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError(f"{name!r} holds a NUL character")


def validate_event(item: Any) -> ProcessEvent:
    """One event from a JSON-like object; raises TraceError with every problem in one message."""
    if not isinstance(item, dict):
        raise TraceError(f"an event must be a JSON object, got {type(item).__name__}")
    try:
        return EventIn.model_validate(item).to_event()
    except ValidationError as exc:
        raise TraceError(format_errors(exc)) from exc


def format_errors(exc: ValidationError) -> str:
    """Pydantic errors as 'field.path: message; ...'."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "event"
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def validate_events(
    items: Iterable[Any], first_index: int = 0
) -> tuple[list[ProcessEvent], list[EventError]]:
    """Split a batch into valid events and per-event errors (index = position in the batch)."""
    good: list[ProcessEvent] = []
    bad: list[EventError] = []
    for index, item in enumerate(items, start=first_index):
        try:
            good.append(validate_event(item))
        except TraceError as exc:
            bad.append(EventError(index, str(exc)))
    return good, bad


def store_valid(
    store: EventStore, good: Sequence[ProcessEvent], bad: Sequence[EventError], received: int
) -> IngestResult:
    """Store the valid part of a batch; the result reports the rejected ones beside it."""
    written = store.write(good)
    if bad:
        logger.warning("rejected %d of %d events; first: %s", len(bad), received, bad[0].message)
    duplicates = len(good) - written.stored - written.revised
    return IngestResult(received, written.stored, duplicates, len(bad), tuple(bad[:MAX_ERRORS]),
                        written.revised)


def ingest_events(store: EventStore, items: Sequence[Any]) -> IngestResult:
    """Validate and store a batch; good events are stored even when others are rejected.

    Idempotent on (serial, machine, step, timestamp): sending a batch again stores nothing new;
    an event sent again with other parameters replaces the stored one (kept as a revision).
    Raises StoreError only when the database itself fails (then nothing of the batch is stored).
    """
    good, bad = validate_events(items)
    return store_valid(store, good, bad, len(items))


def ingest_payload(store: EventStore, payload: Any) -> IngestResult:
    """A decoded JSON payload that is one event object or an array of them (HTTP, MQTT)."""
    if isinstance(payload, dict):
        return ingest_events(store, [payload])
    if isinstance(payload, list):
        return ingest_events(store, payload)
    raise TraceError(
        f"payload must be an event object or an array of events, got {type(payload).__name__}"
    )
