"""GET /stats: yield, verdict counts, Pareto, hourly and shift trends, no-reads, from rollups."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import delete

from inspector.api.stats_config import Shift, StatsSection
from inspector.domain import SerialSource, Status, Verdict
from inspector.storage.tables import inspections

from .conftest import inspection

H = timedelta(hours=1)


@pytest.fixture
def t0(uid: str) -> datetime:
    """A winter day of its own per test: the PostgreSQL database is shared and never emptied."""
    n = int(uid, 16)
    return datetime(2100 + n % 800, 1, 5, tzinfo=UTC) + timedelta(days=n // 800 % 40)


def _parts(uid: str, station: str, at: datetime, n: int, verdict: Verdict = Verdict.OK,
           label: str | None = "good", **changes) -> list:
    return [replace(inspection(f"{station}-{at:%d%H}-{verdict}-{label}-{i}", f"{uid}-{i}",
                               at + timedelta(minutes=i), station, verdict, label or "none"),
                    label=label, **changes)
            for i in range(n)]


def _seed(store, uid: str, t0: datetime) -> None:
    """Station uid: 24 parts over a day shift and a night shift; station uid-b: 5 NG."""
    at8, at9, at22, at3 = t0 + 8 * H, t0 + 9 * H, t0 + 22 * H, t0 + 27 * H
    rows = (
        _parts(uid, uid, at8, 6) + _parts(uid, uid, at8, 3, Verdict.NG, "crack")
        + _parts(uid, uid, at8, 1, Verdict.REVIEW, "scratch")
        + _parts(uid, uid, at9, 2) + _parts(uid, uid, at9, 2, label="nr",
                                            serial_source=SerialSource.NO_READ)
        + _parts(uid, uid, at9, 1, Verdict.NG, "dent")
        + _parts(uid, uid, at22, 2) + _parts(uid, uid, at22, 1, Verdict.NG, "crack")
        + _parts(uid, uid, at22, 1, Verdict.REVIEW, None, status=Status.NO_FRAME)
        + _parts(uid, uid, at3, 3) + _parts(uid, uid, at3, 2, Verdict.NG, "dent")
        + _parts(uid, f"{uid}-b", at8, 5, Verdict.NG, "crack")
    )
    assert store.write(rows) == 29
    assert store.write(rows[:10]) == 0  # written again: counted once


def _stats(client, **params) -> dict:
    response = client.get("/stats", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_totals_yield_pareto_and_no_reads(client, store, uid, t0):
    _seed(store, uid, t0)
    body = _stats(client, station_id=uid, since=t0.isoformat(), until=(t0 + 48 * H).isoformat())
    assert body["counts"] == {"OK": 15, "REVIEW": 2, "NG": 7}
    total = body["total"]
    assert total["parts"] == 24 and total["yield"] == pytest.approx(15 / 24)
    assert total["no_read"] == 2 and total["no_read_rate"] == pytest.approx(2 / 24)
    assert body["statuses"] == {"no_frame": 1, "ok": 23}
    pareto = [(d["label"], d["parts"], d["ng"], d["review"]) for d in body["pareto"]]
    assert pareto == [("crack", 4, 4, 0), ("dent", 3, 3, 0), ("no_frame", 1, 0, 1),
                      ("scratch", 1, 0, 1)]
    assert body["pareto"][-1]["cumulative_share"] == pytest.approx(1.0)
    assert body["pareto"][0]["share"] == pytest.approx(4 / 9)


def test_hourly_trend_and_station_filter(client, store, uid, t0):
    _seed(store, uid, t0)
    window = {"since": t0.isoformat(), "until": (t0 + 48 * H).isoformat()}
    hourly = _stats(client, station_id=uid, **window)["hourly"]
    assert [(datetime.fromisoformat(h["hour"]), h["parts"], h["ng"]) for h in hourly] == [
        (t0 + 8 * H, 10, 3), (t0 + 9 * H, 5, 1), (t0 + 22 * H, 4, 1), (t0 + 27 * H, 5, 2)]
    assert hourly[0]["yield"] == pytest.approx(0.6) and hourly[1]["no_read"] == 2
    other = _stats(client, station_id=f"{uid}-b", **window)
    assert other["counts"] == {"OK": 0, "REVIEW": 0, "NG": 5} and other["total"]["yield"] == 0
    both = _stats(client, **window)  # every station: this test's day holds only these two
    assert both["total"]["parts"] == 29 and both["hourly"][0]["parts"] == 15


def test_time_range_is_widened_to_whole_hours(client, store, uid, t0):
    _seed(store, uid, t0)
    body = _stats(client, station_id=uid, since=(t0 + 9 * H + timedelta(minutes=30)).isoformat(),
                  until=(t0 + 22 * H + timedelta(minutes=1)).isoformat())
    assert datetime.fromisoformat(body["since"]) == t0 + 9 * H
    assert datetime.fromisoformat(body["until"]) == t0 + 23 * H
    assert body["total"]["parts"] == 9
    empty = _stats(client, station_id=uid, since=(t0 + 10 * H).isoformat(),
                   until=(t0 + 22 * H).isoformat())
    assert empty["total"]["parts"] == 0 and empty["total"]["yield"] is None
    assert empty["hourly"] == [] and empty["pareto"] == []


def test_shifts_with_a_night_shift_across_midnight(client, store, uid, t0):
    _seed(store, uid, t0)
    window = {"station_id": uid, "since": t0.isoformat(), "until": (t0 + 48 * H).isoformat()}
    shifts = _stats(client, **window)["shifts"]  # default: early 06-14, late 14-22, night 22-06 UTC
    assert [(s["shift"], datetime.fromisoformat(s["start"]), s["parts"], s["ok"]) for s in shifts] == [
        ("early", t0 + 6 * H, 15, 10), ("night", t0 + 22 * H, 9, 5)]
    berlin = StatsSection(timezone="Europe/Berlin", shifts=[  # UTC+1 in winter
        Shift(name="day", start=time(7), end=time(19)), Shift(name="night", start=time(19), end=time(7))])
    shifts = _stats(make_client_with(client, berlin), **window)["shifts"]
    starts = [(s["shift"], s["start"], s["parts"]) for s in shifts]
    day = t0.date().isoformat()
    # 04:00 local the next day still belongs to the night that began the evening before
    assert starts == [("day", f"{day}T07:00:00+01:00", 15), ("night", f"{day}T19:00:00+01:00", 9)]


def make_client_with(client, stats: StatsSection):
    client.app.state.settings = replace(client.app.state.settings, stats=stats)
    return client


def test_stats_come_from_the_rollups_not_the_inspections(client, store, uid, t0):
    _seed(store, uid, t0)
    with store.engine.begin() as conn:
        conn.execute(delete(inspections).where(inspections.c.station_id == uid))
    body = _stats(client, station_id=uid, since=t0.isoformat(), until=(t0 + 48 * H).isoformat())
    assert body["total"]["parts"] == 24


@pytest.mark.parametrize("query, message", [
    ("since=noon", "query.since"), ("station_id=", "query.station_id"),
    ("since=2024-05-02T00:00:00Z&until=2024-05-01T00:00:00Z", "must be after"),
    ("since=2020-01-01T00:00:00Z&until=2024-01-01T00:00:00Z", "at most 400 days"),
    ("until=0001-01-01T00:30:00Z", "too early"),
    ("since=9999-12-31T23:30:00Z&until=9999-12-31T23:45:00Z", "date range"),
])
def test_bad_ranges_are_422_with_a_message(client, query, message):
    response = client.get(f"/stats?{query}")
    assert response.status_code == 422 and message in response.json()["detail"], response.text


def test_shift_config_is_checked():
    with pytest.raises(ValueError, match="overlap"):
        StatsSection(shifts=[Shift(name="a", start=time(6), end=time(18)),
                             Shift(name="b", start=time(17), end=time(6))])
    with pytest.raises(ValueError, match="whole local hours"):
        Shift(name="a", start=time(5, 45), end=time(14))
    with pytest.raises(ValueError, match="unknown time zone"):
        StatsSection(timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="extra"):
        StatsSection.model_validate({"shift": []})
