"""alerts-scan: run the defect-rate monitors over a stored history (e.g. a central database)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

import typer
from pydantic import ValidationError

from inspector.commands.trace import DataDirOption, DbOption, JsonOption, fail, resolve_db
from inspector.errors import InspectorError
from inspector.storage.alerts import AlertStore
from inspector.storage.store import InspectionStore
from inspector.trace.alerting import scan_history
from inspector.trace.config import AlertsConfig
from inspector.trace.ingest import format_errors


def alerts_scan(
    station_id: Annotated[str, typer.Option(help="the station whose parts are watched")],
    since: Annotated[str, typer.Option(help="window start, ISO 8601 (no zone = UTC); its first "
                                       "--baseline-parts parts are the baseline")],
    until: Annotated[str | None, typer.Option(help="window end (exclusive); default: now")] = None,
    baseline_parts: Annotated[int, typer.Option(help="parts of the baseline")] = 10_000,
    shift: Annotated[float, typer.Option(help="the rise each monitor is tuned to")] = 1.5,
    horizon_parts: Annotated[int, typer.Option(
        help="parts over which a stable line raises at most --false-alarm")] = 10_000,
    false_alarm: Annotated[float, typer.Option(help="see --horizon-parts")] = 0.05,
    store: Annotated[bool, typer.Option(
        "--store", help="store the alerts (each once, however often the scan runs)")] = False,
    db: DbOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """The alerts the station's defect-rate monitors would have raised over a stored window."""
    try:
        start = _time("--since", since)
        end = _time("--until", until) if until else datetime.now(UTC)
        cfg = AlertsConfig(enabled=True, baseline_parts=baseline_parts, shift=shift,
                           horizon_parts=horizon_parts, false_alarm=false_alarm)
    except ValidationError as exc:
        raise fail(f"--{format_errors(exc)}") from exc
    except InspectorError as exc:
        raise fail(str(exc)) from exc
    try:
        inspections = InspectionStore.open(resolve_db(db, data_dir))
    except InspectorError as exc:
        raise fail(str(exc)) from exc
    try:
        found = list(scan_history(AlertStore(inspections.engine), station_id, start, end, cfg,
                                  keep=store))
    except InspectorError as exc:
        raise fail(str(exc)) from exc
    finally:
        inspections.close()
    for alert in found:
        if as_json:
            typer.echo(json.dumps(asdict(alert), default=str))
        else:
            typer.echo(f"{alert.raised_at:%Y-%m-%d %H:%M:%S}  {alert.message}")
    if not as_json:
        typer.echo(f"{len(found)} alerts{' (stored)' if store else ''}")


def _time(option: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InspectorError(f"{option} {text!r} is not ISO 8601 (e.g. 2024-05-01T06:00Z)") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

