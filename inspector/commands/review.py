"""`inspector export-reviewed DIR`: the reviewed parts' images as `<class>/<image>` for training."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from inspector.commands.trace import DataDirOption, DbOption, JsonOption, fail, resolve_db
from inspector.config import ConfigValidationError, load_config
from inspector.errors import InspectorError


@dataclass(frozen=True)
class ExportSource:
    """Where the rows and the images are: a database URL and the image archive's root."""

    url: str
    images: Path


def export_reviewed(
    out: Annotated[Path, typer.Argument(metavar="DIR", help="folder to write (new or empty)")],
    db: DbOption = None,
    data_dir: DataDirOption = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="station.yaml: its database and data folder")] = None,
    images: Annotated[Path | None, typer.Option(
        help="image archive root (default: <data dir>/images)")] = None,
    station: Annotated[str | None, typer.Option(help="only this station's parts")] = None,
    as_json: JsonOption = False,
) -> None:
    """Write every reviewed part's archived image as DIR/<review label>/<image>, the layout
    `inspector train DIR` reads; parts without an image are skipped and counted."""
    from inspector.storage.review import ReviewStore
    from inspector.storage.review_export import plan_export, write_folder
    from inspector.storage.store import InspectionStore

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise fail(f"{out} exists and is not an empty folder: choose a new one")
    try:
        source = _source(config, db, data_dir, images)
        store = InspectionStore.open(source.url)
        try:
            plan = plan_export(ReviewStore(store.engine).reviewed(station_id=station), source.images)
        finally:
            store.close()
        out.mkdir(parents=True, exist_ok=True)
        summary = write_folder(plan, out)
    except ConfigValidationError as exc:
        raise fail("\n".join(exc.issues), code=1) from exc
    except (InspectorError, OSError) as exc:
        raise fail(str(exc)) from exc
    _report(summary, out, as_json)


def _source(config: Path | None, db: str | None, data_dir: Path | None,
            images: Path | None) -> ExportSource:
    """Flags beat the config file, which beats $INSPECTOR_DB_URL / $INSPECTOR_DATA_DIR / ./var."""
    from inspector.pipeline.station import data_paths

    if config is not None:
        cfg = load_config(config)
        url = resolve_db(db, data_dir) if (db or data_dir) else cfg.db_url()
        folder = data_dir or cfg.station.data_dir
    else:
        url = resolve_db(db, data_dir)
        folder = data_dir or Path(os.environ.get("INSPECTOR_DATA_DIR") or "./var")
    return ExportSource(url=url, images=images or data_paths(folder)[1])


def _report(summary: dict[str, object], out: Path, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"out": str(out), **summary}))
        return
    classes = summary["classes"]
    assert isinstance(classes, dict)
    per_class = ", ".join(f"{c} {n}" for c, n in classes.items()) or "none"
    typer.echo(f"{summary['written']} images written to {out} ({per_class}); "
               f"{summary['skipped']} reviewed parts skipped")
    skipped = summary["skipped_by_reason"]
    assert isinstance(skipped, dict)
    for reason, n in skipped.items():
        typer.echo(f"  skipped {n}: {reason}", err=True)
    if len(classes) < 2:
        typer.echo("note: `inspector train` needs at least two classes with images", err=True)
