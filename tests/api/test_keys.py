"""`inspector keys` end to end, and the rule that nothing listens on the network without a key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from inspector.api import create_app
from inspector.api.access import check_listen_allowed, is_loopback
from inspector.cli import app
from inspector.errors import ConfigError
from inspector.storage.audit import AuditLog
from inspector.storage.engine import sqlite_url
from inspector.storage.keys import KeyStore
from inspector.storage.store import InspectionStore
from inspector.storage.tables import api_keys, audit_log
from tests.api.conftest import API_BASE

from .conftest import new_key


def _keys(*args: str) -> Result:
    return CliRunner().invoke(app, ["keys", *args])


@pytest.fixture
def db(tmp_path: Path) -> str:
    return sqlite_url(tmp_path / "data")


def test_create_prints_the_key_once_as_the_last_line_and_stores_only_its_hash(db, tmp_path):
    result = _keys("create", "--role", "operator", "--name", "mes-line-3", "--db", db)
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("insp_") and result.output.count(key) == 1
    secret = key.split("_", 2)[2]
    store = InspectionStore.open(db)
    try:
        with store.engine.connect() as conn:
            stored = repr(conn.execute(select(api_keys)).all() + conn.execute(select(audit_log)).all())
        assert secret not in stored and "$argon2id$" in stored
        client = TestClient(create_app(store), base_url=API_BASE)
        assert client.get("/inspections", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert client.post("/events", json=[], headers={"X-API-Key": key}).status_code == 200
    finally:
        store.close()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert secret.encode() not in raw


def test_list_shows_keys_without_secrets_and_revoke_ends_one(db):
    key = _keys("create", "--role", "viewer", "--name", "wall-screen", "--db", db).output.split()[-1]
    key_id = key.split("_")[1]
    listed = _keys("list", "--db", db, "--json")
    assert listed.exit_code == 0
    (row,) = json.loads(listed.output)
    assert (row["key_id"], row["name"], row["role"], row["revoked_at"]) == (
        key_id, "wall-screen", "viewer", None)
    assert key.split("_", 2)[2] not in listed.output
    revoked = _keys("revoke", key_id, "--db", db)
    assert revoked.exit_code == 0 and f"revoked viewer key 'wall-screen' (id {key_id})" in revoked.output
    table = _keys("list", "--db", db).output
    assert key_id in table and "revoked" in table
    store = InspectionStore.open(db)
    try:
        assert KeyStore(store.engine).authenticate(key) is None
        actions = [(e.action, e.actor.startswith("cli")) for e in AuditLog(store.engine).list()[0]]
        assert actions == [("key.revoke", True), ("key.create", True)]
    finally:
        store.close()


def test_mistakes_are_clear_errors(db):
    unknown = _keys("revoke", "0123456789abcdef", "--db", db)
    assert unknown.exit_code == 1 and "no API key with id '0123456789abcdef'" in unknown.output
    bad_role = _keys("create", "--role", "root", "--name", "x", "--db", db)
    assert bad_role.exit_code == 2 and "root" in bad_role.output
    bad_name = _keys("create", "--role", "admin", "--name", " ", "--db", db)
    assert bad_name.exit_code == 1 and "key name" in bad_name.output


def test_the_config_names_the_database_and_the_station(tmp_path):
    config = tmp_path / "station.yaml"
    config.write_text(f"station: {{id: st-7, data_dir: {tmp_path / 'st'}}}\n"
                      "source: {type: folder, path: x}\n")
    created = _keys("create", "--role", "admin", "--name", "boss", "--config", str(config))
    assert created.exit_code == 0, created.output
    store = InspectionStore.open(sqlite_url(tmp_path / "st"))
    try:
        (entry,), _ = AuditLog(store.engine).list()
        assert (entry.action, entry.station_id, entry.after["name"]) == ("key.create", "st-7", "boss")
    finally:
        store.close()


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True), ("127.0.0.2", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("station-7.plant", False),
])
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_no_network_listening_without_an_active_key(db):
    store = InspectionStore.open(db)
    try:
        keys = KeyStore(store.engine)
        check_listen_allowed("127.0.0.1", keys)
        with pytest.raises(ConfigError, match=r"refusing to listen on '0\.0\.0\.0': no API key"):
            check_listen_allowed("0.0.0.0", keys)
        new_key(store, "viewer")
        check_listen_allowed("0.0.0.0", keys)
    finally:
        store.close()


def test_serve_refuses_a_network_address_while_no_key_exists(db):
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--db", db])
    assert result.exit_code == 1
    assert "refusing to listen on '0.0.0.0': no API key exists" in result.output
    key = _keys("create", "--role", "viewer", "--name", "v", "--db", db).output.split()[-1]
    _keys("revoke", key.split("_")[1], "--db", db)
    again = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--db", db])
    assert again.exit_code == 1 and "refusing to listen" in again.output
