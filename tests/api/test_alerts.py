"""GET /alerts: viewers list the stored alerts, newest first, paged, with their evidence."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from inspector.storage.alerts import DEFECT_RATE, Alert, AlertStore
from tests.api.conftest import T0


def _alert(station: str, n: int) -> Alert:
    return Alert(raised_at=T0 + timedelta(minutes=n), station_id=station, monitor=DEFECT_RATE,
                 subject=f"crack rate at {station}", defect_class="crack",
                 message=f"crack rate at {station} is rising: {n + 5} of the last 300 parts",
                 statistic=6.5, threshold=6.1, baseline=0.02, current=(n + 5) / 300, parts=300,
                 defects=n + 5, first_serial=f"{station}-A", last_serial=f"{station}-B",
                 evidence={"method": "bernoulli_cusum", "shift": 1.5, "horizon_parts": 10_000})


def test_a_viewer_lists_alerts_newest_first_with_what_they_rest_on(make_client, store, uid):
    alerts = AlertStore(store.engine)
    stored = [alerts.add(_alert(uid, n)) for n in range(3)]
    alerts.clear(stored[0].id, T0 + timedelta(hours=1))
    viewer = make_client(role="viewer")
    page = viewer.get(f"/alerts?station_id={uid}&limit=2")
    assert page.status_code == 200
    body = page.json()
    assert [a["id"] for a in body["items"]] == [stored[2].id, stored[1].id]
    first = body["items"][0]
    assert first["defects"] == 7 and first["parts"] == 300 and first["baseline"] == 0.02
    assert first["statistic"] >= first["threshold"]
    assert first["evidence"]["method"] == "bernoulli_cusum" and first["cleared_at"] is None
    rest = viewer.get(f"/alerts?station_id={uid}&limit=2&cursor={body['next_cursor']}").json()
    assert [a["id"] for a in rest["items"]] == [stored[0].id] and rest["next_cursor"] is None
    assert rest["items"][0]["cleared_at"] is not None
    active = viewer.get(f"/alerts?station_id={uid}&active=true").json()["items"]
    assert {a["id"] for a in active} == {stored[1].id, stored[2].id}
    since = (T0 + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    assert viewer.get("/alerts", params={"station_id": uid, "since": since}).json()["count"] == 2


def test_bad_requests_get_one_readable_message(make_client, store, uid):
    viewer = make_client(role="viewer")
    bad = viewer.get("/alerts?cursor=nonsense")
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]
    assert viewer.get("/alerts?limit=0").status_code == 422
    assert make_client(role=None).get("/alerts").status_code == 401


def test_an_alert_without_a_station_is_listed_too(make_client, store, uid):
    alerts = AlertStore(store.engine)
    plant = alerts.add(replace(_alert(uid, 0), station_id=None, subject=f"NG rate {uid}"))
    items = make_client(role="viewer").get("/alerts").json()["items"]
    assert plant.id in {a["id"] for a in items}
