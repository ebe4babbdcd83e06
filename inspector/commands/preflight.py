"""What `check-config` verifies beyond the schema, without side effects: database, model, devices."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from inspector.config import StationConfig
from inspector.errors import InspectorError

DRIVERS = {"psycopg": "psycopg", "psycopg2": "psycopg2", "pysqlite": "sqlite3", "": None}


def problems(cfg: StationConfig) -> list[str]:
    """Errors as `path.to.key: message`: each would stop the station at start or lose rows."""
    found = [database_problem(cfg.db_url()), bundle_problem(cfg.model.bundle),
             central_problem(cfg)]
    return [p for p in found if p is not None] + lineio_problems(cfg)


def central_problem(cfg: StationConfig) -> str | None:
    """A central database the forwarder could never reach: a variable not set, a bad URL, the
    station's own database, or a station database that is not SQLite."""
    key = "storage.central_url"
    try:
        url = cfg.central_db_url()
    except InspectorError as exc:
        return str(exc)
    if url is None:
        return None
    problem = database_problem(url, key)
    if problem is not None:
        return problem
    from inspector.storage.engine import parse_url

    if parse_url(url) == parse_url(cfg.db_url()):
        return f"{key}: is the station's own database (storage.url); name the central one"
    if parse_url(cfg.db_url()).get_backend_name() != "sqlite":
        return (f"{key}: forwarding reads the station's SQLite database; storage.url is not "
                "SQLite (a station on PostgreSQL can serve as the central database itself)")
    return None


def lineio_problems(cfg: StationConfig) -> list[str]:
    """Line protocols that could not work: a shared cursor name, MQTT client id or OPC UA port,
    triggers the station's trigger type refuses (topic templates and endpoint URLs are checked
    when the config loads)."""
    found, names, clients, ports = [], set(), set(), set()
    takes_triggers = cfg.trigger.type == "external" or cfg.api.manual_trigger
    for i, line in enumerate(cfg.lineio):
        if line.name in names:
            found.append(f"lineio.{i}.name: {line.name!r} is used twice (each connection keeps "
                         "its own delivery cursor): give each a name")
        names.add(line.name)
        if line.type == "mqtt":
            client = line.resolved_client_id(cfg.station.id)
            if client in clients:
                found.append(f"lineio.{i}.client_id: {client!r} is used twice: the broker would "
                             "drop one connection for the other")
            clients.add(client)
        else:
            found += _opcua_port_problems(cfg, i, ports)
            if line.security is not None:
                found += line.security.problems(f"lineio.{i}.security")
        if line.triggers and not takes_triggers:
            found.append(f"lineio.{i}.triggers: the station refuses line triggers with "
                         f"`trigger: {cfg.trigger.type}`: use `trigger: {{type: external}}` (or "
                         "api.manual_trigger: true), or set triggers: false")
    return found


def _opcua_port_problems(cfg: StationConfig, i: int, ports: set[int]) -> list[str]:
    """An OPC UA endpoint port that another line or the HTTP API of this station takes."""
    from urllib.parse import urlsplit

    port = urlsplit(cfg.lineio[i].endpoint).port
    if not port:  # 0: the system chooses a free one
        return []
    found = []
    if port in ports:
        found.append(f"lineio.{i}.endpoint: port {port} is used by another OPC UA line")
    if cfg.api.enabled and cfg.api.port == port:
        found.append(f"lineio.{i}.endpoint: port {port} is the HTTP API's (api.port)")
    ports.add(port)
    return found


def warnings(cfg: StationConfig) -> list[str]:
    """Things that may still come (a folder not filled yet, a camera not plugged in yet)."""
    notes = []
    for key in ("path", "manifest"):
        value = getattr(cfg.source, key, None)
        if isinstance(value, Path) and not value.exists():
            notes.append(f"source.{key}: {value} does not exist (yet)")
    device = getattr(cfg.source, "device", None)
    if cfg.source.type == "usb" and sys.platform.startswith("linux"):
        node = Path(f"/dev/video{device}") if isinstance(device, int) else Path(str(device))
        if not node.exists():
            notes.append(f"source.device: {node} does not exist (camera unplugged?)")
    return notes + [f"model.bundle: {note}" for note in _int8_notes(cfg.model.bundle)]


def _int8_notes(bundle: Path) -> list[str]:
    """An INT8 graph the card names that will not run on this PC's CPU (slower, same verdicts)."""
    from inspector.model.card import ModelCard
    from inspector.model.loader import unjudged_int8

    try:
        return unjudged_int8(bundle, ModelCard.load(bundle))
    except InspectorError:  # a bad card is an error, reported by problems()
        return []


def database_problem(url: str, key: str = "storage.url") -> str | None:
    """A URL the station could never open: malformed, unknown database, missing driver."""
    from inspector.storage.engine import parse_url

    try:
        parsed = parse_url(url)
    except InspectorError as exc:
        return f"{key}: {exc}"
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgresql" and not driver:
        driver = "psycopg2"  # SQLAlchemy's default for a bare postgresql:// URL
    if backend not in ("sqlite", "postgresql"):
        return (f"{key}: unknown database {backend!r} (did you mean postgresql?); use "
                "sqlite:///path/inspector.db or postgresql+psycopg://user@host/db")
    module = DRIVERS.get(driver, driver)
    if module and importlib.util.find_spec(module) is None:
        return (f"{key}: the {driver} driver is not installed (use postgresql+psycopg://, "
                "installed by pip install 'inspector[postgres]')")
    if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return _sqlite_folder_problem(Path(parsed.database).expanduser().parent, key)
    return None


def _sqlite_folder_problem(folder: Path, key: str) -> str | None:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        return f"{key}: cannot create the database under {folder} ({existing} is not writable)"
    return None


def bundle_problem(bundle: Path) -> str | None:
    """A bundle the station could not load: missing, a bad card, a missing graph."""
    from inspector.model.card import ModelCard

    try:
        card = ModelCard.load(bundle)
    except InspectorError as exc:
        return f"model.bundle: {exc}"
    needed = [card.graph_file] + ([card.gate_graph_file] if card.gate is not None else [])
    missing = [name for name in needed if not (Path(bundle) / name).is_file()]
    if missing:
        return f"model.bundle: {bundle} lacks {', '.join(missing)}"
    return None
