"""Review: the queue order, recording a label (who, when, audit), export as folder and zip."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from datetime import timedelta

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from inspector.api import ApiSettings, create_app
from inspector.cli import app as cli
from inspector.datasets import scan_dataset
from inspector.domain import Verdict
from inspector.storage.audit import AuditLog
from tests.api.conftest import API_BASE, T0, inspection, new_key
from tests.bundles.fakes import FakeStationControl, write_card


@pytest.fixture
def archive(tmp_path):
    return tmp_path / "images"


@pytest.fixture
def api(store, events, archive, uid, tmp_path):
    """make(role, control=None): a client whose key is named `<role>-<uid>`."""

    def make(role: str = "operator", control=None) -> TestClient:
        app = create_app(store, events, ApiSettings(images_dir=archive), control=control)
        client = TestClient(app, base_url=API_BASE)
        client.headers["X-API-Key"] = new_key(store, role, name=f"{role}-{uid}")
        return client

    return make


def part(uid, name, minutes, verdict, label="good", image_root=None, image=True):
    """One stored part; with image_root, its frame archived as <day>/<verdict>/<part>.jpg."""
    part_id = f"{uid}-{name}"
    ins = inspection(part_id, f"{uid}-s-{name}", T0 + timedelta(minutes=minutes), f"st-{uid}",
                     verdict=verdict, label=label)
    if image_root is not None and image:
        rel = f"2024-05-01/{verdict.value}/{part_id}.jpg"
        (image_root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(image_root / rel), np.full((8, 8), minutes * 10 % 255, np.uint8))
        ins = replace(ins, image_path=rel)
    return ins


@pytest.fixture
def parts(store, uid, archive):
    """REVIEW, NG and OK parts out of time order; some OK parts have no archived image."""
    rows = [part(uid, "ok-img-late", 9, Verdict.OK, image_root=archive),
            part(uid, "ng-late", 8, Verdict.NG, "crack", archive),
            part(uid, "review-late", 7, Verdict.REVIEW, "crack", archive),
            part(uid, "ok-noimg", 1, Verdict.OK, image_root=archive, image=False),
            part(uid, "ng-early", 2, Verdict.NG, "crack", archive),
            part(uid, "review-early", 3, Verdict.REVIEW, "good", archive),
            part(uid, "ok-img-early", 4, Verdict.OK, image_root=archive)]
    store.write(rows)
    return rows


def queue_ids(client, uid, **params):
    body = client.get("/review/queue", params={"station": f"st-{uid}", **params}).json()
    return [i["part_id"].removeprefix(f"{uid}-") for i in body["items"]], body["next_cursor"]


def test_queue_is_review_then_ng_then_sampled_ok_oldest_first(api, parts, uid):
    ids, cursor = queue_ids(api("viewer"), uid)
    assert ids == ["review-early", "review-late", "ng-early", "ng-late", "ok-img-early",
                   "ok-img-late"]
    assert cursor is None


def test_queue_pages_with_a_cursor(api, parts, uid):
    client = api("viewer")
    seen, cursor = [], None
    while True:
        ids, cursor = queue_ids(client, uid, limit=4, **({"cursor": cursor} if cursor else {}))
        seen += ids
        if cursor is None:
            break
    assert seen == ["review-early", "review-late", "ng-early", "ng-late", "ok-img-early",
                    "ok-img-late"]
    bad = client.get("/review/queue", params={"cursor": "garbage!"})
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]


def test_reviewed_parts_leave_the_queue(api, parts, uid):
    client = api()
    assert client.post(f"/inspections/{uid}-review-early/review",
                       json={"label": "good"}).status_code == 200
    ids, _ = queue_ids(client, uid)
    assert "review-early" not in ids and ids[0] == "review-late"


def test_review_records_who_when_and_an_audit_entry(api, parts, uid, store):
    response = api().post(f"/inspections/{uid}-ng-late/review",
                          json={"label": "good", "note": "dust on the lens"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["review_label"] == "good" and body["reviewed_by"] == f"operator-{uid}"
    assert body["verdict"] == "NG" and body["label"] == "crack"
    stored = store.get(f"{uid}-ng-late")
    assert stored.review_label == "good" and stored.reviewed_by == f"operator-{uid}"
    assert stored.review_note == "dust on the lens" and stored.reviewed_at is not None
    assert stored.verdict is Verdict.NG
    entries, _ = AuditLog(store.engine).list(action="inspection.review", actor=f"operator-{uid}")
    (entry,) = entries
    assert entry.target == f"{uid}-ng-late"
    assert entry.before["review_label"] is None and entry.after["review_label"] == "good"
    assert entry.after["review_note"] == "dust on the lens"


def test_unknown_class_is_422_with_the_known_ones(api, parts, uid, store):
    response = api().post(f"/inspections/{uid}-ng-late/review", json={"label": "wobble"})
    assert response.status_code == 422
    assert "unknown class 'wobble'" in response.json()["detail"]
    assert "crack" in response.json()["detail"] and "good" in response.json()["detail"]
    assert store.get(f"{uid}-ng-late").review_label is None


def test_the_active_models_classes_are_known(api, parts, uid, tmp_path):
    control = FakeStationControl(write_card(tmp_path / "m", classes=("good", "dent")),
                                 station_id=f"st-{uid}")
    response = api(control=control).post(f"/inspections/{uid}-ng-late/review",
                                         json={"label": "dent"})
    assert response.status_code == 200, response.text


def test_review_of_an_unknown_part_is_404(api, parts):
    response = api().post("/inspections/no-such-part/review", json={"label": "good"})
    assert response.status_code == 404 and "no-such-part" in response.json()["detail"]


def test_review_needs_an_operator(api, parts, uid, store):
    response = api("viewer").post(f"/inspections/{uid}-ng-late/review", json={"label": "good"})
    assert response.status_code == 403
    assert store.get(f"{uid}-ng-late").review_label is None


@pytest.mark.parametrize("body", [{}, {"label": ""}, {"label": "x" * 65},
                                  {"label": "good", "note": "n" * 2001}])
def test_bad_review_bodies_are_422(api, parts, uid, body):
    response = api().post(f"/inspections/{uid}-ng-late/review", json=body)
    assert response.status_code == 422 and "detail" in response.json()


def review_all(client, uid):
    labels = {"ng-late": "crack", "ng-early": "crack", "review-late": "good",
              "review-early": "crack", "ok-img-early": "good", "ok-noimg": "good"}
    for name, label in labels.items():
        assert client.post(f"/inspections/{uid}-{name}/review",
                           json={"label": label}).status_code == 200
    return labels


def test_export_reviewed_writes_a_dataset_that_training_reads(api, parts, uid, store, archive,
                                                              tmp_path):
    review_all(api(), uid)
    out = tmp_path / "reviewed"
    db = store.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(cli, ["export-reviewed", str(out), "--db", db, "--images",
                                      str(archive), "--station", f"st-{uid}", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["written"] == 5 and summary["skipped"] == 1
    assert summary["skipped_by_reason"] == {"no archived image": 1}
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg")) == sorted(
        [f"crack/{uid}-ng-late.jpg", f"crack/{uid}-ng-early.jpg", f"crack/{uid}-review-early.jpg",
         f"good/{uid}-review-late.jpg", f"good/{uid}-ok-img-early.jpg"])
    index = scan_dataset(out)
    assert index.classes == ["crack", "good"] and index.counts() == {"crack": 3, "good": 2}


def test_export_reviewed_refuses_a_folder_with_files(tmp_path):
    (tmp_path / "x.txt").write_text("keep me")
    result = CliRunner().invoke(cli, ["export-reviewed", str(tmp_path)])
    assert result.exit_code == 2 and "not an empty folder" in result.output


def test_zip_export_streams_class_folders_and_a_manifest(api, parts, uid):
    client = api()
    review_all(client, uid)
    response = client.get("/review/export", params={"station": f"st-{uid}"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert response.headers["x-export-written"] == "5" and response.headers["x-export-skipped"] == "1"
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        names = sorted(zf.namelist())
        manifest = json.loads(zf.read("export.json"))
        image = zf.read(f"crack/{uid}-ng-late.jpg")
    assert names == sorted(["export.json", f"crack/{uid}-ng-late.jpg", f"crack/{uid}-ng-early.jpg",
                            f"crack/{uid}-review-early.jpg", f"good/{uid}-review-late.jpg",
                            f"good/{uid}-ok-img-early.jpg"])
    assert manifest["written"] == 5 and manifest["classes"] == {"crack": 3, "good": 2}
    assert cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_UNCHANGED).shape == (8, 8)


def test_export_skips_paths_outside_the_archive(api, store, uid, archive, tmp_path):
    secret = tmp_path / "secret.jpg"
    cv2.imwrite(str(secret), np.zeros((4, 4), np.uint8))
    tricky = replace(part(uid, "tricky", 1, Verdict.NG, "crack"), image_path="../secret.jpg")
    store.write([tricky])
    client = api()
    assert client.post(f"/inspections/{uid}-tricky/review", json={"label": "crack"}).status_code == 200
    response = client.get("/review/export", params={"station": f"st-{uid}"})
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        assert zf.namelist() == ["export.json"]
        assert json.loads(zf.read("export.json"))["skipped_by_reason"] == {
            "image missing from the archive": 1}


def test_zip_export_without_an_archive_is_409(store, events, uid):
    client = TestClient(create_app(store, events, ApiSettings()), base_url=API_BASE)
    client.headers["X-API-Key"] = new_key(store, "viewer")
    response = client.get("/review/export")
    assert response.status_code == 409 and "image archive" in response.json()["detail"]
