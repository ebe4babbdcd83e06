"""Traceability commands: import-events, genealogy, root-cause."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from inspector.errors import InspectorError
from inspector.storage.engine import sqlite_url
from inspector.storage.events import EventStore
from inspector.storage.store import InspectionStore
from inspector.trace.config import RootCauseConfig
from inspector.trace.csv_import import CSV_FORMAT, import_csv
from inspector.trace.genealogy import genealogy as load_genealogy
from inspector.trace.ingest import IngestResult, format_errors, ingest_payload
from inspector.trace.rootcause import Finding, RootCauseReport
from inspector.trace.rootcause import root_cause as run_root_cause

logger = logging.getLogger(__name__)

DbOption = Annotated[str | None, typer.Option(
    "--db", help="database URL (default: $INSPECTOR_DB_URL, else SQLite in --data-dir)")]
DataDirOption = Annotated[Path | None, typer.Option(
    help="station data folder (default: $INSPECTOR_DATA_DIR, else ./var)")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a clear error on stderr and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def resolve_db(db: str | None, data_dir: Path | None) -> str:
    """--db, else $INSPECTOR_DB_URL, else SQLite inside --data-dir / $INSPECTOR_DATA_DIR / ./var."""
    if db:
        return db
    if os.environ.get("INSPECTOR_DB_URL"):
        return os.environ["INSPECTOR_DB_URL"]
    return sqlite_url(data_dir or Path(os.environ.get("INSPECTOR_DATA_DIR") or "./var"))


@contextlib.contextmanager
def _stores(db: str | None, data_dir: Path | None) -> Iterator[tuple[InspectionStore, EventStore]]:
    """Open the station database for one command; any InspectorError becomes a clear exit."""
    try:
        store = InspectionStore.open(resolve_db(db, data_dir))
        try:
            yield store, EventStore(store.engine)
        finally:
            store.close()
    except InspectorError as exc:
        raise fail(str(exc)) from exc


def import_events(
    file: Annotated[Path, typer.Argument(help="events CSV (or .json: an event or an array)")],
    db: DbOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import upstream process events; bad rows are reported, good rows stored, repeats skipped."""
    with _stores(db, data_dir) as (_, events):
        result = _import(events, file)
    _print_import(result, as_json)
    if result.rejected:
        raise typer.Exit(1)


import_events.__doc__ = f"{import_events.__doc__}\n\n{CSV_FORMAT}"


def _import(events: EventStore, file: Path) -> IngestResult:
    if file.suffix.lower() != ".json":
        return import_csv(events, file)
    try:
        payload = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InspectorError(f"cannot read {file} as JSON: {exc}") from exc
    return ingest_payload(events, payload)


def _print_import(result: IngestResult, as_json: bool) -> None:
    if as_json:
        errors = [{"index": e.index, "message": e.message} for e in result.errors]
        typer.echo(json.dumps({"received": result.received, "stored": result.stored,
                               "revised": result.revised, "duplicates": result.duplicates,
                               "rejected": result.rejected, "errors": errors}))
        return
    revised = f"{result.revised} revised (earlier versions kept), " if result.revised else ""
    typer.echo(f"{result.received} events: {result.stored} stored, {revised}{result.duplicates} "
               f"already known, {result.rejected} rejected")
    for error in result.errors:
        typer.echo(f"  rejected: {error.message}", err=True)
    if result.rejected > len(result.errors):
        typer.echo(f"  ... and {result.rejected - len(result.errors)} more", err=True)


def genealogy(
    serial: Annotated[str, typer.Argument(help="part serial")],
    db: DbOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """A part's history: upstream events and inspections, in time order."""
    with _stores(db, data_dir) as (store, events):
        result = load_genealogy(serial, store, events)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    else:
        for entry in result.timeline():
            details = json.dumps(entry.details, default=str)
            typer.echo(f"{entry.at.isoformat()}  {entry.kind:<10} {entry.what:<24} {details}")
    if not result.found:
        raise fail(f"serial {result.serial!r} is unknown (no inspection, no event)", code=1)


def root_cause(
    since: Annotated[str | None, typer.Option(
        help="window start, ISO 8601 (no zone = UTC); default: 24 h before --until")] = None,
    until: Annotated[str | None, typer.Option(
        help="window end (exclusive), ISO 8601; default: now")] = None,
    defect_class: Annotated[str | None, typer.Option(
        help="analyse one defect class (label) instead of all NG parts")] = None,
    alpha: Annotated[float, typer.Option(
        help="family-wise error rate (Holm), above 0 and below 0.5")] = 0.05,
    db: DbOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Which machine, step or parameter goes with the defective parts in a time window."""
    try:
        end = _parse_time("--until", until) if until else datetime.now(UTC)
        start = _parse_time("--since", since) if since else end - timedelta(days=1)
        config = RootCauseConfig(alpha=alpha)
    except ValidationError as exc:
        raise fail(f"--{format_errors(exc)}") from exc
    except (InspectorError, ValueError) as exc:
        raise fail(str(exc)) from exc
    with _stores(db, data_dir) as (_, events):
        report = run_root_cause(events, start, end, defect_class, config)
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
    else:
        _print_report(report)


def _parse_time(option: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InspectorError(f"{option} {text!r} is not ISO 8601 (e.g. 2024-05-01T06:00Z)") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _print_report(report: RootCauseReport) -> None:
    what = report.defect_class or "all defects (NG)"
    typer.echo(f"{report.since:%Y-%m-%d %H:%M} .. {report.until:%Y-%m-%d %H:%M} UTC, {what}: "
               f"{report.message}")
    for issue in report.data_issues:
        typer.echo(f"  data: {issue.message}")
    if report.status != "ok":
        return
    typer.echo(f"{'#':>3}   {'kind':<12} {'parts':>6} {'defects':>7} {'group':>12} {'ratio':>5} "
               f"{'q':>8}  name")
    for rank, f in enumerate(report.ranked, start=1):
        typer.echo(_row(rank, f))
        if f.significant:
            typer.echo(f"      {f.advice}")
    for f in report.not_tested:
        if f.status != "same_as_machine":
            typer.echo(f"      {f.kind:<12} {f.name}: not tested, {f.status} ({f.note})")
    if report.changes_message:
        typer.echo(report.changes_message)
    for c in report.changes:
        if c.significant:
            typer.echo(f"  * q {c.q_value:.2g}  {c.advice}")


def _row(rank: int, f: Finding) -> str:
    mark = "*" if f.significant else " "
    group = f"{f.group_defects}/{f.group_parts}" if f.group_parts is not None else ""
    return (f"{rank:>3} {mark} {f.kind:<12} {f.parts:>6} {f.defects:>7} {group:>12} "
            f"{f.risk_ratio or 0:>5.2f} {f.q_value or 0:>8.2g}  {f.name}")
