"""`inspector keys create/list/revoke`: the API keys of a station or plant database."""

from __future__ import annotations

import contextlib
import getpass
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from inspector.commands.trace import DataDirOption, DbOption, JsonOption, fail, resolve_db
from inspector.config import ConfigValidationError, load_config
from inspector.errors import InspectorError
from inspector.storage.keys import ApiKey, KeyStore, Role
from inspector.storage.store import InspectionStore

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="API keys: create (shown once), list, revoke. Roles: viewer < operator < admin.")

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help="station.yaml: its database and station id")]


def cli_actor() -> str:
    """Who a local command acts as in the audit log: `cli:<login name>`."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):   # no login name (some containers)
        return "cli"


@contextlib.contextmanager
def _keys(db: str | None, data_dir: Path | None, config: Path | None
          ) -> Iterator[tuple[KeyStore, str | None]]:
    """The key store of the database (flags beat --config) and the config's station id."""
    try:
        station_id = None
        url = resolve_db(db, data_dir)
        if config is not None:
            cfg = load_config(config)
            station_id = cfg.station.id
            url = url if (db or data_dir) else cfg.db_url()
        store = InspectionStore.open(url)
        try:
            yield KeyStore(store.engine), station_id
        finally:
            store.close()
    except ConfigValidationError as exc:
        for issue in exc.issues:
            typer.echo(issue, err=True)
        raise typer.Exit(1) from exc
    except InspectorError as exc:
        raise fail(str(exc), code=1) from exc


@app.command("create")
def create(
    role: Annotated[Role, typer.Option(help="viewer (read), operator (+ trigger, review, events), "
                                       "admin (everything)")],
    name: Annotated[str, typer.Option(help="who or what uses the key, e.g. mes-line-3")],
    db: DbOption = None,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Create a key and print it once, as the last line: only its hash is stored."""
    with _keys(db, data_dir, config) as (keys, station_id):
        new = keys.create(name, role, actor=cli_actor(), station_id=station_id)
    typer.echo(f"created {new.key.role} key {new.key.name!r} (id {new.key.key_id}); it is shown "
               "only now: send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`", err=True)
    typer.echo(new.secret)


@app.command("list")
def list_keys(
    db: DbOption = None,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every key (never its secret): id, name, role, created, last used, revoked."""
    with _keys(db, data_dir, config) as (keys, _):
        found = keys.list()
    if as_json:
        typer.echo(json.dumps([_public(k) for k in found]))
        return
    typer.echo(f"{'key id':<18} {'name':<24} {'role':<9} {'created (UTC)':<17} {'last used':<17} "
               "state")
    for k in found:
        typer.echo(f"{k.key_id:<18} {k.name[:24]:<24} {k.role:<9} {_when(k.created_at)} "
                   f"{_when(k.last_used_at)} {'active' if k.active else 'revoked ' + _when(k.revoked_at)}")


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="the key's id (see `inspector keys list`)")],
    db: DbOption = None,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Revoke a key: a running server refuses it from its next request."""
    with _keys(db, data_dir, config) as (keys, station_id):
        key = keys.revoke(key_id.strip(), actor=cli_actor(), station_id=station_id)
    typer.echo(f"revoked {key.role} key {key.name!r} (id {key.key_id})")


def _when(at: datetime | None) -> str:
    return "-".ljust(17) if at is None else f"{at:%Y-%m-%d %H:%M}".ljust(17)


def _public(key: ApiKey) -> dict[str, object]:
    at = {f: getattr(key, f) for f in ("created_at", "last_used_at", "revoked_at")}
    return {"key_id": key.key_id, "name": key.name, "role": str(key.role),
            **{f: None if v is None else v.isoformat() for f, v in at.items()}}

