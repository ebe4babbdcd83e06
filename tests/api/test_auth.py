"""API keys and roles on every route: 401 without a valid key, 403 too weak a role, 413 too big."""

from __future__ import annotations

import json
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from inspector.api.app import API_PREFIX
from inspector.api.bodylimit import BodyLimit
from inspector.storage.keys import KeyStore
from tests.api.conftest import API_BASE

from .conftest import TEST_HASHER, event, new_key

OPEN = {"/health"}


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every documented route, path parameters filled with their names."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        path = path.removeprefix(API_PREFIX)  # the test client adds it back
        if path not in OPEN:
            filled = re.sub(r"\{(\w+)\}", r"\1", path)
            found += [(method.upper(), filled) for method in operations]
    return found


def _stored(store, serial: str) -> int:
    client = TestClient(_app_of(store), base_url=API_BASE)
    client.headers["X-API-Key"] = new_key(store, "viewer")
    return client.get("/events", params={"serial": serial}).json()["count"]


def _app_of(store):
    from inspector.api import create_app

    return create_app(store)


def test_every_route_but_health_and_docs_needs_a_valid_key(make_client, store):
    client = make_client(role=None)
    routes = _routes(client.app)
    assert ("POST", "/events") in routes and ("GET", "/audit") in routes
    revoked = new_key(store, "admin")
    KeyStore(store.engine).revoke(revoked.split("_")[1], actor="test")
    for headers in ({}, {"Authorization": "Bearer insp_0123abcd_wrong"}, {"X-API-Key": "nonsense"},
                    {"Authorization": f"Basic {revoked}"}, {"X-API-Key": revoked}):
        for method, path in routes:
            response = client.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert "API key" in response.json()["detail"]
            assert response.headers["www-authenticate"] == "Bearer"


def test_health_needs_no_key(make_client):
    assert make_client(role=None).get("/health").status_code == 200


def test_bearer_and_x_api_key_headers_are_both_accepted(make_client, store):
    client = make_client(role=None)
    key = new_key(store, "viewer")
    assert client.get("/inspections", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert client.get("/inspections", headers={"X-API-Key": key}).status_code == 200


def test_a_viewer_reads_but_cannot_write_and_nothing_is_stored(make_client, store, uid):
    viewer = make_client(role="viewer")
    for path in ("/inspections", f"/events?serial={uid}"):
        assert viewer.get(path).status_code == 200, path
    # Let in, and told why there is nothing to analyse (an empty window is a clear 422 now).
    assert viewer.get("/root-cause").status_code not in (401, 403)
    refused = viewer.post("/events", json=[event(f"{uid}-1")])
    assert refused.status_code == 403
    assert "has role viewer; this needs operator" in refused.json()["detail"]
    assert _stored(store, f"{uid}-1") == 0
    operator = make_client(role="operator")
    assert operator.post("/events", json=[event(f"{uid}-1")]).json()["stored"] == 1


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_the_audit_log_is_for_admins_only(make_client, role):
    response = make_client(role=role).get("/audit")
    assert response.status_code == 403
    assert f"has role {role}; this needs admin" in response.json()["detail"]
    assert make_client(role="admin").get("/audit").status_code == 200


def test_open_reads_lets_reads_through_but_never_writes(make_client, store, uid):
    client = make_client(role=None, open_reads=True)
    assert client.get("/inspections").status_code == 200
    assert client.get("/events", params={"serial": uid}).status_code == 200
    write = client.post("/events", json=[event(f"{uid}-1")])
    assert write.status_code == 401 and "role operator" in write.json()["detail"]
    assert client.get("/audit").status_code == 401
    assert _stored(store, f"{uid}-1") == 0
    wrong = client.get("/inspections", headers={"X-API-Key": "insp_0123abcd_wrong"})
    assert wrong.status_code == 401     # a key that is sent must be right


def test_a_revoked_key_is_refused_from_the_next_request(make_client, store):
    client = make_client(role=None)
    key = new_key(store, "viewer")
    assert client.get("/inspections", headers={"X-API-Key": key}).status_code == 200  # cached now
    KeyStore(store.engine, hasher=TEST_HASHER).revoke(key.split("_")[1], actor="cli:test")
    assert client.get("/inspections", headers={"X-API-Key": key}).status_code == 401


def test_an_oversized_body_is_413_before_auth_and_nothing_is_stored(make_client, store, uid):
    batch = json.dumps([event(f"{uid}-{i}") for i in range(30)]).encode()
    for role in (None, "operator"):     # a declared length is refused before anything else
        client = make_client(role=role, max_body_bytes=2_000)
        declared = client.post("/events", content=batch, headers={"content-type": "application/json"})
        assert declared.status_code == 413, role
        assert "larger than 2000 bytes" in declared.json()["detail"]
        assert client.request("PUT", "/nowhere", content=batch).status_code == 413  # any route
    chunked = make_client(role="operator", max_body_bytes=2_000).post(  # counted as it streams
        "/events", content=iter([batch[:1500], batch[1500:]]),
        headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    assert _stored(store, f"{uid}-0") == 0
    fits = make_client(role="operator", max_body_bytes=2_000).post("/events", json=[event(uid)])
    assert fits.status_code == 200 and fits.json()["stored"] == 1


class _Item(BaseModel):
    name: str


def test_the_body_limit_holds_for_bodies_the_framework_parses():
    app = FastAPI()
    received: list[_Item] = []

    @app.post("/items")
    def post_item(item: _Item) -> dict:
        received.append(item)
        return {"ok": True}

    app.add_middleware(BodyLimit, limit=100)
    client = TestClient(app)
    big = json.dumps({"name": "x" * 200}).encode()
    assert client.post("/items", content=iter([big]), headers={
        "content-type": "application/json"}).status_code == 413
    assert client.post("/items", content=big, headers={
        "content-type": "application/json"}).status_code == 413
    assert client.post("/items", json={"name": "ok"}).status_code == 200
    assert [i.name for i in received] == ["ok"]


def test_get_audit_shows_key_changes_newest_first_with_a_cursor(make_client, store, uid):
    keys = KeyStore(store.engine, hasher=TEST_HASHER)
    made = keys.create(f"{uid}-line", "operator", actor=f"{uid}-alice")
    keys.revoke(made.key.key_id, actor=f"{uid}-alice")
    client = make_client(role="admin")
    first = client.get("/audit", params={"by": f"{uid}-alice", "limit": 1}).json()
    (revoke,) = first["items"]
    assert (revoke["action"], revoke["target"], revoke["actor"]) == (
        "key.revoke", made.key.key_id, f"{uid}-alice")
    assert revoke["before"]["revoked_at"] is None and revoke["after"]["revoked_at"]
    second = client.get("/audit", params={"by": f"{uid}-alice", "limit": 1,
                                          "cursor": first["next_cursor"]}).json()
    (create,) = second["items"]
    assert create["action"] == "key.create" and create["before"] is None
    assert create["after"] == {"key_id": made.key.key_id, "name": f"{uid}-line", "role": "operator"}
    assert second["next_cursor"] is None
    bad = client.get("/audit", params={"cursor": "nope"})
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]
