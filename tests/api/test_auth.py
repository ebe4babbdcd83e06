"""Bearer-token auth: every route but /health needs the token when one is configured."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from inspector.api import create_app

from .conftest import event

TOKEN = "s3cret-token"
PROTECTED = [("post", "/events"), ("get", "/events?serial=x"), ("get", "/serials/x"),
             ("get", "/root-cause"), ("get", "/inspections"), ("get", "/inspections/x")]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_protected_routes_need_the_token(make_client, method, path):
    client = make_client(token=TOKEN)
    kwargs = {"json": [event("x")]} if method == "post" else {}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = getattr(client, method)(path, headers=headers, **kwargs)
        assert response.status_code == 401, (path, headers)
        assert "bearer token" in response.json()["detail"]
        assert response.headers["www-authenticate"] == "Bearer"
    response = getattr(client, method)(path, headers={"Authorization": f"Bearer {TOKEN}"},
                                       **kwargs)
    assert response.status_code != 401


def test_a_refused_post_stores_nothing(make_client, uid):
    client = make_client(token=TOKEN)
    assert client.post("/events", json=[event(f"{uid}-1")]).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/events", params={"serial": f"{uid}-1"}, headers=auth).json()["count"] == 0
    assert client.post("/events", json=[event(f"{uid}-1")], headers=auth).json()["stored"] == 1


def test_health_needs_no_token(make_client):
    assert make_client(token=TOKEN).get("/health").status_code == 200


def test_the_token_is_read_from_the_environment_when_the_app_is_made(store, monkeypatch):
    monkeypatch.setenv("INSPECTOR_API_TOKEN", TOKEN)
    client = TestClient(create_app(store))
    assert client.get("/inspections").status_code == 401
    ok = client.get("/inspections", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    monkeypatch.delenv("INSPECTOR_API_TOKEN")
    assert TestClient(create_app(store)).get("/inspections").status_code == 200
