"""Analytics in a browser: a root-cause finding links to the parts it rests on (issue 33)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from inspector.api import ApiSettings, create_app
from inspector.storage.events import EventStore
from inspector.storage.store import InspectionStore
from inspector.trace.simulate import LineSpec, simulate, to_inspection
from tests.api.conftest import new_key
from tests.dashboard.conftest import serve

pytestmark = pytest.mark.slow


@pytest.fixture
def analytics_site(tmp_path):
    """1,200 simulated parts (a planted kiln-2 cause) in the last 12 hours."""
    store = InspectionStore.open(f"sqlite:///{tmp_path / 'inspector.db'}")
    events = EventStore(store.engine)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=14)
    parts = list(simulate(LineSpec(parts=1_200, seed=4, start=start, cycle_s=36.0)))
    events.insert([e for p in parts for e in p.events])
    store.write([to_inspection(p) for p in parts])
    key = new_key(store, "viewer", name="viewer-1")
    with serve(create_app(store, events, ApiSettings())) as base:
        yield base, key
    store.close()


def test_a_finding_opens_the_parts_it_rests_on(analytics_site, tab):
    base, key = analytics_site
    t = tab(base, key)
    page = t.open("/analytics")
    link = page.wait_for_selector("#rc-rows a.finding-link")
    row = page.query_selector("#rc-rows tr:has(a.finding-link)")
    defects, parts = (int(x.replace(",", "")) for x in
                      row.query_selector(".rc-group").text_content().split(" of "))
    assert 0 < defects <= parts
    t.shot("analytics-root-cause")
    link.click()
    page.wait_for_url("**/parts?*condition=*")
    page.wait_for_selector("#parts-rows tr")
    while page.is_visible("#parts-more"):  # every page of the finding's parts
        shown = page.locator("#parts-rows tr").count()
        page.click("#parts-more")
        page.wait_for_function(f"document.querySelectorAll('#parts-rows tr').length > {shown}")
    rows = page.locator("#parts-rows tr")
    assert rows.count() == parts
    verdicts = page.locator("#parts-rows td.v").all_text_contents()
    assert verdicts.count("NG") == defects
    assert "condition=" in page.text_content("#parts-filter")
    t.shot("parts-of-a-finding")
    assert t.errors == []
