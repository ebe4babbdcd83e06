"""The dashboard in a real browser over a running simulated line: pages, live counts, search,
review, roles. Screenshots of each page go to the run's tmp dir (and docs/ on request)."""

from __future__ import annotations

import re

import pytest

from tests.dashboard.conftest import Line

pytestmark = pytest.mark.slow

PAGES = {  # path -> a selector that shows the page has its data
    "/": "#thumbs .thumb",
    "/review": "#rv-classes .choice",
    "/analytics": "#an-hourly svg rect",
    "/models": "#bundles .bundle",
    "/health": "#h-pipeline dd",
    "/parts?verdict=NG": "#parts-rows tr",
}


def _number(text: str) -> int:
    return int(text.replace(",", "")) if re.fullmatch(r"[\d,]+", text) else -1


def test_every_page_loads_with_its_data_and_no_console_errors(line: Line, tab):
    t = tab(line.base, line.keys["admin"])
    for path, ready in PAGES.items():
        page = t.open(path)
        page.wait_for_selector(ready)
        page.wait_for_timeout(600)  # a poll or two
        t.shot({"/": "live"}.get(path, path.strip("/").split("?")[0]))
    page = t.open(f"/parts/{line.history.traced_part}")
    page.wait_for_selector("#part-scores .bar-row")
    page.wait_for_selector("#timeline li.event")
    page.click("#heat-toggle")
    assert page.is_visible("#part-heatmap")
    t.shot("part")
    assert t.errors == []
    assert page.locator("header nav a").count() == 5 and page.is_visible("#serial-input")


def test_live_counts_rise_while_the_line_runs(line: Line, tab):
    page = tab(line.base, line.keys["viewer"]).open("/")
    page.wait_for_function("/^[0-9,]+$/.test(document.getElementById('count-parts').textContent)")
    first = _number(page.text_content("#count-parts"))
    page.wait_for_function(
        f"Number(document.getElementById('count-parts').textContent.replace(/,/g, '')) > {first}",
        timeout=30_000)
    page.wait_for_selector("#frame[src^='blob:']")
    assert page.text_content("#last-verdict") in ("OK", "REVIEW", "NG")
    assert not page.is_visible("#alarms")  # camera online, database online, no journal lag


def test_a_serial_search_shows_the_genealogy(line: Line, tab):
    t = tab(line.base, line.keys["viewer"])
    page = t.open("/analytics")
    page.fill("#serial-input", line.history.traced_serial)
    page.press("#serial-input", "Enter")
    page.wait_for_url(f"**/serials/{line.history.traced_serial}")
    page.wait_for_selector("#timeline li.inspection")
    machines = page.locator("#timeline li.event b").all_text_contents()
    assert machines == ["press-1/press", "kiln-2/firing"]
    assert "temperature" in page.text_content("#timeline")
    t.shot("serial")
    page.click("#timeline li.inspection a")
    page.wait_for_url(f"**/parts/{line.history.traced_part}")
    page.wait_for_selector("#part-facts dd")
    assert "magnetic-tile@history" in page.text_content("#part-facts")
    assert t.errors == []


def test_a_review_changes_the_stored_record_and_undo_brings_the_part_back(line: Line, tab):
    t = tab(line.base, line.keys["operator"])
    page = t.open("/review")
    page.wait_for_selector("#rv-classes .choice")
    part = page.get_attribute("#rv-link", "href").rsplit("/", 1)[1]
    assert part == line.history.review_parts[0]  # REVIEW first, oldest first
    assert line.store.get(part).review_label is None
    t.shot("review")
    page.click("#rv-classes .choice[data-label='fray']")
    page.wait_for_function(f"!document.getElementById('rv-link').href.endsWith('/{part}')")
    assert line.store.get(part).review_label == "fray"
    assert line.store.get(part).reviewed_by == "operator-1"
    assert "Reviewed 1" in page.text_content("#rv-progress")
    page.keyboard.press("u")  # undo: the part comes back
    page.wait_for_function(f"document.getElementById('rv-link').href.endsWith('/{part}')")
    page.keyboard.press("Enter")  # confirm the model's class: recorded as the correction
    page.wait_for_function(f"!document.getElementById('rv-link').href.endsWith('/{part}')")
    stored = line.store.get(part)
    assert stored.review_label == stored.label != "fray"
    assert t.errors == []


def test_a_viewer_key_shows_no_write_buttons(line: Line, tab):
    t = tab(line.base, line.keys["viewer"])
    page = t.open("/review")
    page.wait_for_selector("body.role-known")
    page.wait_for_selector("#rv-link[href^='/parts/']")
    assert page.is_visible(".needs-viewer-only")
    assert "viewer" in page.text_content("#key-button")
    for selector in ("#rv-confirm", "#rv-classes .choice", "#rv-undo", "#rv-skip"):
        assert not page.locator(selector).first.is_visible(), selector
    page = t.open("/models")
    page.wait_for_selector("#bundles .bundle")
    for selector in ("#rollback", ".activate", "#thr-dry", "#thr-apply"):
        assert page.locator(selector).count() == 0 or not page.locator(selector).first.is_visible()
    assert t.errors == []


def test_without_a_key_the_page_asks_for_one(line: Line, tab):
    page = tab(line.base).open("/health")
    page.wait_for_selector("#banner:not([hidden])")
    assert "API key" in page.text_content("#banner")
    page.click("#key-button")
    page.fill("#key-input", line.keys["operator"])
    page.click("#key-save")
    page.wait_for_selector("#h-pipeline dd")
    # The page's data and the caller's role (GET /me) load independently: wait for the role.
    page.wait_for_selector("body.role-known")
    assert "operator" in page.text_content("#key-button")
