"""/models: listing, activation and rollback through StationControl, thresholds, 409 and 403."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from inspector.api import ApiSettings, create_app
from inspector.api.model_schemas import CardPublic
from inspector.domain import Status, Verdict
from inspector.model.card import ModelCard
from inspector.storage.audit import AuditLog
from tests.api.conftest import API_BASE, T0, inspection, new_key
from tests.bundles.fakes import FakeStationControl, write_card


@pytest.fixture
def models(tmp_path):
    folder = tmp_path / "models"
    write_card(folder / "alpha", ng=0.8, review=0.5)
    write_card(folder / "beta", classes=("good", "crack", "dent"), ng=0.9, review=0.6)
    (folder / "broken").mkdir()
    (folder / "broken" / "card.json").write_text('{"name": "broken"}')
    return folder


@pytest.fixture
def control(models, uid):
    return FakeStationControl(models / "alpha", station_id=f"st-{uid}")


@pytest.fixture
def api(store, events, models, control, uid):
    """make(role, control=..., models_dir=...): a client with a fresh key named after the role."""

    def make(role: str = "admin", with_control: bool = True, with_models: bool = True,
             **settings) -> TestClient:
        app = create_app(store, events, ApiSettings(**settings),
                         control=control if with_control else None,
                         models_dir=models if with_models else None)
        client = TestClient(app, base_url=API_BASE)
        client.headers["X-API-Key"] = new_key(store, role, name=f"{role}-{uid}")
        return client

    return make


def audit_of(store, uid, action):
    entries, _ = AuditLog(store.engine).list(action=action, actor=f"admin-{uid}")
    return entries


def test_lists_every_bundle_and_a_broken_one_with_its_error(api):
    body = api("viewer").get("/models").json()
    by_name = {b["name"]: b for b in body["items"]}
    assert sorted(by_name) == ["alpha", "beta", "broken"] and body["count"] == 3
    assert by_name["alpha"]["active"] and by_name["alpha"]["card"]["thresholds"]["ng"] == 0.8
    assert by_name["beta"]["card"]["classes"] == ["good", "crack", "dent"]
    card = by_name["alpha"]["card"]  # a square bundle: its canvas is input_size x input_size
    assert card["input_shape"] == [card["input_size"], card["input_size"]]
    assert card["graphs"] == {"classifier": "float"}  # no gate, no INT8 graph named
    assert not by_name["broken"]["ok"] and "malformed" in by_name["broken"]["error"]
    assert body["active"] == "alpha@nohash"


def test_without_a_station_the_folder_is_listed_and_station_routes_answer_409(api):
    client = api(with_control=False)
    listed = client.get("/models")
    assert listed.status_code == 200 and listed.json()["active"] is None
    for method, path in [("get", "/models/active"), ("post", "/models/alpha/activate"),
                         ("post", "/models/rollback")]:
        response = getattr(client, method)(path)
        assert response.status_code == 409, path
        assert "no station runs in this process" in response.json()["detail"]
    applied = client.post("/models/active/thresholds", json={"ng": 0.7, "review": 0.4})
    assert applied.status_code == 409
    dry = client.post("/models/active/thresholds?dry_run=true", json={"ng": 0.7, "review": 0.4})
    assert dry.status_code == 200 and dry.json()["applied"] is False


def test_without_a_models_folder_listing_answers_409(api):
    response = api(with_models=False).get("/models")
    assert response.status_code == 409 and "models folder" in response.json()["detail"]


def test_activate_and_rollback_go_through_the_station_and_the_audit_log(api, control, store, uid):
    client = api()
    assert client.get("/models/active").json()["name"] == "alpha"
    swapped = client.post("/models/beta/activate")
    assert swapped.status_code == 200, swapped.text
    assert swapped.json()["before"]["name"] == "alpha" and swapped.json()["after"]["name"] == "beta"
    assert control.active_model().bundle.name == "beta"
    assert client.get("/models/active").json()["card"]["classes"] == ["good", "crack", "dent"]
    back = client.post("/models/rollback")
    assert back.status_code == 200 and back.json()["after"]["name"] == "alpha"
    (activation,) = audit_of(store, uid, "model.activate")
    assert activation.before["version"] == "alpha@nohash"
    assert activation.after == {"bundle": "beta", "version": "beta@nohash",
                                "thresholds": {"ng": 0.9, "review": 0.6, "anomaly": None}}
    assert activation.station_id == f"st-{uid}"
    (rollback,) = audit_of(store, uid, "model.rollback")
    assert (rollback.before["bundle"], rollback.after["bundle"]) == ("beta", "alpha")
    nothing = client.post("/models/rollback")
    assert nothing.status_code == 409 and "roll back" in nothing.json()["detail"]


@pytest.mark.parametrize("name,status", [("..", 404), ("...", 422), (".hidden", 422),
                                         ("nope", 404), ("a%2Fb", 404), ("%2Fetc", 404),
                                         ("..%2F..%2Fetc", 404), ("x%5Cy", 422)])
def test_path_tricks_on_activate_never_reach_the_station(api, control, name, status):
    response = api().post(f"/models/{name}/activate")
    assert response.status_code == status, response.text
    assert "detail" in response.json()
    assert control.calls == []


def test_a_link_out_of_the_models_folder_is_not_activated(api, control, models, tmp_path):
    write_card(tmp_path / "elsewhere")
    (models / "escape").symlink_to(tmp_path / "elsewhere")
    response = api().post("/models/escape/activate")
    assert response.status_code == 404 and "outside" in response.json()["detail"]
    assert control.calls == []


def test_a_broken_or_unloadable_bundle_is_422(api, control, models):
    assert api().post("/models/broken/activate").status_code == 422
    control.fail_on.add("beta")
    response = api().post("/models/beta/activate")
    assert response.status_code == 422 and "model.onnx is missing" in response.json()["detail"]
    assert control.active_model().bundle.name == "alpha"


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_model_changes_need_an_admin(api, control, role):
    client = api(role)
    for path, body in [("/models/beta/activate", None), ("/models/rollback", None),
                       ("/models/active/thresholds?dry_run=true", {"ng": 0.7, "review": 0.4})]:
        response = client.post(path, json=body)
        assert response.status_code == 403, path
    assert control.calls == []


def test_model_routes_need_a_key(store, events, models, control):
    client = TestClient(create_app(store, events, control=control, models_dir=models), base_url=API_BASE)
    assert client.get("/models").status_code == 401
    assert client.post("/models/beta/activate").status_code == 401


def scored_parts(store, uid, version="alpha@nohash"):
    """Ten judged parts with defect scores 0.05..0.95, verdicts by 0.8/0.5, one no_frame row."""
    rows = []
    for i in range(10):
        score = 0.05 + 0.1 * i
        verdict = Verdict.NG if score >= 0.8 else Verdict.REVIEW if score >= 0.5 else Verdict.OK
        ins = inspection(f"{uid}-p{i}", f"{uid}-s{i}", T0 + timedelta(minutes=i), f"st-{uid}",
                         verdict=verdict)
        rows.append(replace(ins, defect_score=score, model_version=version))
    missing = inspection(f"{uid}-nf", f"{uid}-nf", T0 + timedelta(minutes=20), f"st-{uid}",
                         verdict=Verdict.REVIEW)
    rows.append(replace(missing, status=Status.NO_FRAME, defect_score=None, model_version=version))
    other = inspection(f"{uid}-old", f"{uid}-old", T0, f"st-{uid}", verdict=Verdict.OK)
    rows.append(replace(other, model_version="older@1", defect_score=0.7))
    store.write(rows)


def test_threshold_dry_run_counts_and_flips_and_changes_nothing(api, control, store, uid):
    scored_parts(store, uid)
    response = api().post("/models/active/thresholds?dry_run=true",
                          json={"ng": 0.6, "review": 0.3, "last_n": 100})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["parts"] == 11 and body["judged"] == 10   # the older model's part is not re-judged
    assert body["before"] == {"OK": 5, "REVIEW": 4, "NG": 2}
    assert body["after"] == {"OK": 3, "REVIEW": 4, "NG": 4}
    flipped = {f["part_id"]: (f["before"], f["after"]) for f in body["flips"]}
    assert flipped == {f"{uid}-p3": ("OK", "REVIEW"), f"{uid}-p4": ("OK", "REVIEW"),
                       f"{uid}-p6": ("REVIEW", "NG"), f"{uid}-p7": ("REVIEW", "NG")}
    assert body["flips_total"] == 4 and body["dry_run"] and not body["applied"]
    assert body["previous"] == {"ng": 0.8, "review": 0.5, "anomaly": None}
    assert control.calls == [] and audit_of(store, uid, "model.thresholds") == []


def test_last_n_takes_the_newest_parts(api, store, uid):
    scored_parts(store, uid)
    body = api().post("/models/active/thresholds?dry_run=true",
                      json={"ng": 0.6, "review": 0.3, "last_n": 3}).json()
    assert body["parts"] == 3 and body["judged"] == 2       # no_frame row + p9, p8


def test_applying_thresholds_reaches_the_station_and_keeps_the_stored_rows(api, control, store, uid):
    scored_parts(store, uid)
    response = api().post("/models/active/thresholds", json={"ng": 0.6, "review": 0.3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["applied"] and body["stored_rows_rewritten"] is False
    assert "not rewritten" in body["message"]
    assert control.calls == [("set_thresholds", control.active_model().card.thresholds)]
    assert control.active_model().card.thresholds.ng == 0.6
    assert store.get(f"{uid}-p6").verdict is Verdict.REVIEW     # history stays what the line was told
    (entry,) = audit_of(store, uid, "model.thresholds")
    assert entry.before == {"ng": 0.8, "review": 0.5, "anomaly": None}
    assert entry.after == {"ng": 0.6, "review": 0.3, "anomaly": None}


@pytest.mark.parametrize("body", [{"ng": 0.3, "review": 0.6}, {"ng": 1.5, "review": 0.1},
                                  {"ng": 0.5}, {"ng": 0.5, "review": 0.2, "last_n": 0},
                                  {"ng": "x", "review": 0.2}])
def test_invalid_thresholds_are_422_and_change_nothing(api, control, body):
    response = api().post("/models/active/thresholds", json=body)
    assert response.status_code == 422 and "detail" in response.json()
    assert control.calls == []


def test_omitted_anomaly_keeps_the_active_models_gate(api, control, models, store, uid):
    write_card(models / "gated", ng=0.8, review=0.5, anomaly=0.7)
    client = api()
    assert client.post("/models/gated/activate").status_code == 200
    body = client.post("/models/active/thresholds", json={"ng": 0.6, "review": 0.3}).json()
    assert body["thresholds"]["anomaly"] == 0.7
    assert control.active_model().card.thresholds.anomaly == 0.7


def test_a_station_without_a_model_answers_409_not_500(api, control):
    def no_model():
        from inspector.errors import ModelError

        raise ModelError("the station has no model loaded")

    control.active_model = no_model
    client = api()
    assert client.get("/models").json()["active"] is None
    response = client.get("/models/active")
    assert response.status_code == 409 and "no model" in response.json()["detail"]
    dry = client.post("/models/active/thresholds?dry_run=true", json={"ng": 0.7, "review": 0.4})
    assert dry.status_code == 409



def test_a_card_says_which_graphs_run_on_this_cpu(monkeypatch):
    from inspector import machine

    shipped = ModelCard.load(Path(__file__).resolve().parents[2] / "weights" / "magnetic-tile")
    monkeypatch.setattr(machine, "int8_kernel", lambda: "vnni")  # a family its INT8 graphs were judged on
    assert CardPublic.of(shipped).graphs == {"classifier": "int8", "gate": "int8"}
    monkeypatch.setattr(machine, "int8_kernel", lambda: "aarch64")  # never judged there: float runs
    assert CardPublic.of(shipped).graphs == {"classifier": "float", "gate": "float"}
    float_gate = replace(shipped, graph=None, gate={**shipped.gate, "graph": None})
    assert CardPublic.of(float_gate).graphs == {"classifier": "float", "gate": "float"}
