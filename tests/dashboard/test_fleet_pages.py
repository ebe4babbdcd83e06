"""The central dashboard in Debian's chromium: the fleet page, its links, the station selector."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from inspector.api import ApiSettings, create_app
from inspector.api.station_fetch import CentralSettings
from inspector.domain import Verdict
from inspector.storage.engine import sqlite_url
from inspector.storage.store import InspectionStore
from tests.api.conftest import inspection, new_key
from tests.api.fleet_db import register
from tests.dashboard.conftest import _chromium, serve

A, B, C = "press-a", "press-b", "press-c"


@dataclass(frozen=True)
class Plant:
    central: str   # the central service's address
    plain: str     # the same database served as a station would (no central settings)
    key: str


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Iterator[Plant]:
    """A central database: A (6 parts, 1 NG) and B (4 parts, 2 NG) in the last hour, A and C
    registered (C silent for two hours), B's camera offline."""
    _chromium()
    store = InspectionStore.open(sqlite_url(tmp_path_factory.mktemp("central")))
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(minutes=30)
    rows = [inspection(f"{A}-{i}", f"{A}-S{i}", start + timedelta(seconds=i), A,
                       Verdict.NG if i == 0 else Verdict.OK, "crack" if i == 0 else "free")
            for i in range(6)]
    rows += [inspection(f"{B}-{i}", f"{B}-S{i}", start + timedelta(seconds=i), B,
                        Verdict.NG if i < 2 else Verdict.OK, "chip" if i < 2 else "free")
             for i in range(4)]
    store.write(rows)
    register(store, A, now, api_url="http://10.0.4.21:8080", lag_rows=3, lag_seconds=1.5)
    register(store, C, now - timedelta(hours=2))
    store.set_station_status(B, {"camera_state": "camera_offline", "camera_online": False,
                                 "alarms": []})
    key = new_key(store, "viewer")
    central = create_app(store, settings=ApiSettings(central=CentralSettings()))
    plain = create_app(store, settings=ApiSettings())
    with serve(central) as central_base, serve(plain) as plain_base:
        yield Plant(central_base, plain_base, key)
    store.close()


def test_the_fleet_page_lists_the_stations_and_links_each_to_its_parts(plant: Plant, tab):
    t = tab(plant.central, plant.key)
    page = t.open("/")  # no station runs in a central service: its home is the fleet
    page.wait_for_url("**/fleet")
    page.wait_for_selector(f"#fleet-rows tr[data-station='{C}']")
    assert page.locator(".top nav a", has_text="Fleet").count() == 1
    assert page.locator(".top nav a", has_text="Live").count() == 0
    rows = page.locator("#fleet-rows tr")
    assert [rows.nth(i).get_attribute("data-station") for i in range(rows.count())] == [A, B, C]
    a = page.locator(f"#fleet-rows tr[data-station='{A}']")
    assert "83.3 %" in a.locator("td.yield").text_content()            # 5 of 6 parts OK
    assert "3 rows" in a.text_content() and "10.0.4.21" in a.text_content()
    assert "OFFLINE" in page.locator(f"tr[data-station='{B}']").text_content()
    assert "STALE" in page.locator(f"tr[data-station='{C}']").text_content()
    assert "1 stale" in page.text_content("#fleet-summary")
    t.shot("fleet")
    page.click(f"#fleet-rows tr[data-station='{B}'] a")
    page.wait_for_url(f"**/parts?station_id={B}")
    page.wait_for_function("document.querySelectorAll('#parts-rows tr').length === 4")
    page.wait_for_function(f"document.getElementById('station-select').value === '{B}'")
    assert t.errors == []


def test_the_station_selector_narrows_the_analytics(plant: Plant, tab):
    t = tab(plant.central, plant.key)
    page = t.open("/analytics")
    page.wait_for_function("document.querySelectorAll('#station-select option').length === 4")
    page.wait_for_function("/Parts10/.test(document.getElementById('an-total').textContent)")
    page.select_option("#station-select", A)
    page.wait_for_url(f"**/analytics?station_id={A}")
    page.wait_for_function("/Parts6/.test(document.getElementById('an-total').textContent)")
    assert "NG1" in page.text_content("#an-total")
    assert t.errors == []


def test_a_station_server_shows_no_fleet_and_no_selector(plant: Plant, tab):
    t = tab(plant.plain, plant.key)
    page = t.open("/parts")
    page.wait_for_function("document.querySelectorAll('#parts-rows tr').length === 10")
    assert page.locator(".top nav a", has_text="Fleet").count() == 0
    assert page.locator(".top nav a", has_text="Live").count() == 1
    assert page.locator("#station-select").count() == 0
    assert t.errors == []
