"""Models page in a browser: activate and roll back round-trip, thresholds only after a dry run."""

from __future__ import annotations

import pytest

from inspector.api import ApiSettings, create_app
from inspector.storage.store import InspectionStore
from tests.api.conftest import new_key
from tests.bundles.fakes import FakeStationControl, write_card
from tests.dashboard.conftest import serve

pytestmark = pytest.mark.slow


@pytest.fixture
def models_site(tmp_path):
    folder = tmp_path / "models"
    write_card(folder / "alpha", ng=0.8, review=0.5)
    write_card(folder / "beta", classes=("good", "crack", "dent"), ng=0.9, review=0.6)
    control = FakeStationControl(folder / "alpha", station_id="st-models")
    store = InspectionStore.open(f"sqlite:///{tmp_path / 'inspector.db'}")
    key = new_key(store, "admin", name="admin-1")
    app = create_app(store, settings=ApiSettings(), control=control, models_dir=folder)
    with serve(app) as base:
        yield base, key, control
    store.close()


def test_activate_and_roll_back_round_trip(models_site, tab):
    base, key, control = models_site
    t = tab(base, key)
    page = t.open("/models")
    page.wait_for_selector(".bundle.active h2:has-text('alpha')")
    page.click(".activate[data-bundle='beta']")
    page.wait_for_selector(".bundle.active h2:has-text('beta')")
    assert control.active_model().bundle.name == "beta"
    assert "Activated" in page.text_content("#banner")
    assert page.input_value("#thr-ng") == "0.9"
    page.click("#rollback")
    page.wait_for_selector(".bundle.active h2:has-text('alpha')")
    assert control.active_model().bundle.name == "alpha"
    assert "Rolled back" in page.text_content("#banner")
    assert [c[1].name for c in control.calls if c[0] == "activate_model"] == ["beta", "alpha"]
    assert t.errors == []


def test_thresholds_apply_only_what_a_dry_run_showed(models_site, tab):
    base, key, control = models_site
    t = tab(base, key)
    page = t.open("/models")
    page.wait_for_function("document.getElementById('thr-ng').value !== ''")
    assert page.is_disabled("#thr-apply")
    page.fill("#thr-ng", "0.7")
    page.fill("#thr-review", "0.4")
    page.click("#thr-dry")
    page.wait_for_selector("#thr-result table")
    assert "dry run" in page.text_content("#thr-result")
    assert not any(c[0] == "set_thresholds" for c in control.calls)
    t.shot("models-dry-run")
    page.click("#thr-apply")
    page.wait_for_selector("#thr-result .ok-text")
    assert control.active_model().card.thresholds.ng == 0.7
    assert t.errors == []
