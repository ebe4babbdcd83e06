"""Message bodies of the line protocols: trigger requests in, results and alarms out (JSON)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inspector.domain import Alarm, Inspection
from inspector.errors import InspectorError

PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # the HTTP trigger's rules: no control characters
MAX_TRIGGER_BYTES = 16_384


class BadTrigger(InspectorError):
    """A trigger message the station cannot take: not JSON, wrong fields, too large."""


class TriggerMessage(BaseModel):
    """A part announced by the PLC/MES (the same fields as the HTTP trigger)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    serial: str | None = Field(None, min_length=1, max_length=128, pattern=PRINTABLE)
    part_ref: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
    meta: dict[str, str | int | float | bool | None] | None = Field(None, max_length=32)


def parse_trigger(payload: bytes) -> TriggerMessage:
    """The trigger in a message body; an empty body is a part without serial or reference."""
    if len(payload) > MAX_TRIGGER_BYTES:
        raise BadTrigger(f"payload of {len(payload)} bytes (at most {MAX_TRIGGER_BYTES})")
    if not payload.strip():
        return TriggerMessage()
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadTrigger(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadTrigger(f"expected a JSON object, got {type(data).__name__}")
    try:
        return TriggerMessage.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}"
                             for e in exc.errors())
        raise BadTrigger(problems) from exc


def part_ref_of(payload: bytes) -> str | None:
    """The part_ref of a message that did not validate, when one can be read (for the answer)."""
    try:
        ref = json.loads(payload).get("part_ref")
    except (ValueError, AttributeError):
        return None
    return ref if isinstance(ref, str) and len(ref) <= 128 else None


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _time(value: datetime | None) -> str | None:
    # In UTC, as the store gives it back: a row sent from memory reads as one read from the store.
    return None if value is None else value.astimezone(UTC).isoformat()


def result_payload(row: Inspection, seq: int | None = None) -> dict[str, Any]:
    """One part's result message: its row's facts a PLC/MES needs (dedupe on part_id).

    Numbers as the store keeps them (plain floats; NaN, and infinity, which JSON cannot carry,
    as null) so the message is the same whether the row came from memory or from the store."""
    return {
        "part_id": row.part_id,
        "part_ref": row.part_ref,
        "station_id": row.station_id,
        "serial": row.serial,
        "serial_source": str(row.serial_source),
        "verdict": str(row.verdict),
        "status": str(row.status),
        "label": row.label,
        "defect_score": _finite(row.defect_score),
        "anomaly_score": _finite(row.anomaly_score),
        "scores": {str(k): _finite(v) for k, v in dict(row.scores or {}).items()},
        "model_version": row.model_version,
        "thresholds": {"ng": _finite(row.threshold_ng), "review": _finite(row.threshold_review)},
        "captured_at": _time(row.captured_at),
        "inspected_at": _time(row.inspected_at),
        "latency_ms": _finite(row.latency_ms),
        "error": row.error,
        "seq": seq,
    }


def alarm_payload(alarm: Alarm) -> dict[str, Any]:
    payload = {
        "alarm": alarm.kind,
        "state": "raised" if alarm.active else "cleared",
        "active": alarm.active,
        "message": alarm.message,
        "station_id": alarm.station_id,
        "at": _time(alarm.at),
    }
    if alarm.details is not None:  # a predictive alert says what it rests on
        payload["details"] = dict(alarm.details)
    return payload


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
