"""`inspector retention`: drop the central database's inspections older than N days, by partition."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from inspector.commands.trace import JsonOption, fail
from inspector.errors import InspectorError


def retention(
    keep_days: Annotated[int, typer.Option(
        "--keep-days", min=1, help="keep inspections of the last N days (hourly rollups stay)")],
    db: Annotated[str | None, typer.Option(
        "--db", envvar="INSPECTOR_DB_URL",
        help="the central PostgreSQL URL (default: $INSPECTOR_DB_URL)")] = None,
    exact: Annotated[bool, typer.Option(
        "--exact", help="also delete the older rows of the month the cutoff falls in (by "
        "default that month is kept whole until all of it is older than N days)")] = False,
    as_json: JsonOption = False,
) -> None:
    """Drop whole monthly partitions older than the cutoff (no row-by-row delete).

    Only for the central PostgreSQL database: a station's SQLite keeps its rows (some may not
    have been forwarded yet) and is refused.
    """
    from inspector.storage.engine import create_engine_for
    from inspector.storage.migrate import upgrade
    from inspector.storage.partitions import apply_retention

    if not db:
        raise fail("--db (or $INSPECTOR_DB_URL) must name the central PostgreSQL database")
    try:
        engine = create_engine_for(db)
    except InspectorError as exc:
        raise fail(str(exc)) from exc
    try:
        upgrade(engine)  # partitioned from migration 0007 on
        result = apply_retention(engine, keep_days, exact=exact)
    except InspectorError as exc:
        raise fail(str(exc), code=1) from exc
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
        return
    dropped = ", ".join(result.dropped) or "none"
    typer.echo(f"cutoff {result.cutoff:%Y-%m-%d %H:%M} UTC: dropped partitions {dropped}; "
               f"deleted {result.deleted_rows} rows")
