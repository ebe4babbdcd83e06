"""GET /api/v1/me (the caller's role, which the pages use to hide write buttons) and the shells."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from inspector.api import ApiSettings, create_app
from inspector.storage.store import InspectionStore
from tests.api.conftest import new_key


@pytest.fixture
def store(tmp_path):
    opened = InspectionStore.open(f"sqlite:///{tmp_path / 'inspector.db'}")
    yield opened
    opened.close()


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_me_names_the_key_and_its_role(store, role):
    client = TestClient(create_app(store))
    body = client.get("/api/v1/me", headers={"X-API-Key": new_key(store, role, name=f"k-{role}")}).json()
    assert body == {"name": f"k-{role}", "role": role}


def test_me_without_a_key_is_401_or_an_anonymous_viewer_with_open_reads(store):
    assert TestClient(create_app(store)).get("/api/v1/me").status_code == 401
    open_app = create_app(store, settings=ApiSettings(open_reads=True))
    assert TestClient(open_app).get("/api/v1/me").json() == {"name": "anonymous", "role": "viewer"}
    bad = TestClient(open_app).get("/api/v1/me", headers={"X-API-Key": "insp_nope_nope"})
    assert bad.status_code == 401


def test_pages_and_static_files_are_served_without_a_key_and_hold_no_data(store):
    client = TestClient(create_app(store))
    for path in ("/", "/review", "/analytics", "/models", "/health", "/parts", "/parts/p-1",
                 "/serials/SN%3Cb%3E"):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert 'src="/static/app.js"' in page.text and "<b>" not in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/api/v1/inspections").status_code == 401  # the data still needs a key
    assert "/" not in client.get("/openapi.json").json()["paths"]
