"""Activation and rollback through StationControl, with the history kept across restarts."""

from __future__ import annotations

import json

import pytest

from inspector.bundles.history import HISTORY_FILE, ActivationHistory
from inspector.bundles.manager import ModelManager, NothingToRollBack
from inspector.errors import ModelError
from tests.bundles.fakes import FakeStationControl, write_card


@pytest.fixture
def models(tmp_path):
    for name in ("a", "b", "c"):
        write_card(tmp_path / name)
    return tmp_path


def test_activate_then_rollback_walks_back_the_history(models):
    control = FakeStationControl(models / "a")
    manager = ModelManager(models, control)
    swap = manager.activate("b", "alice")
    assert swap.before.bundle.name == "a" and swap.after.bundle.name == "b"
    manager.activate("c", "alice")
    assert [e.name for e in manager.history.entries()] == ["a", "b", "c"]
    assert manager.rollback("bob").after.bundle.name == "b"
    assert manager.rollback("bob").after.bundle.name == "a"
    with pytest.raises(NothingToRollBack):
        manager.rollback("bob")
    assert control.active_model().bundle.name == "a"


def test_rollback_survives_a_restart(models):
    ModelManager(models, FakeStationControl(models / "a")).activate("b", "alice")
    restarted = FakeStationControl(models / "b")     # a new process, started on b
    swap = ModelManager(models, restarted).rollback("bob")
    assert swap.after.bundle.name == "a"
    assert json.loads((models / HISTORY_FILE).read_text())["activations"][-1]["actor"] == "bob"


def test_an_unloadable_bundle_changes_nothing(models):
    control = FakeStationControl(models / "a", fail_on={"b"})
    manager = ModelManager(models, control)
    with pytest.raises(ModelError):
        manager.activate("b", "alice")
    assert control.active_model().bundle.name == "a"
    assert manager.history.entries() == []


def test_a_broken_card_is_refused_before_the_station_is_asked(models):
    (models / "c" / "card.json").write_text("[]")
    control = FakeStationControl(models / "a")
    with pytest.raises(ModelError, match="JSON object"):
        ModelManager(models, control).activate("c", "alice")
    assert control.calls == []


def test_an_unreadable_history_reads_as_empty_and_is_replaced(models):
    (models / HISTORY_FILE).write_text("garbage")
    assert ActivationHistory(models).entries() == []
    ModelManager(models, FakeStationControl(models / "a")).activate("b", "x")
    assert [e.name for e in ActivationHistory(models).entries()] == ["a", "b"]
    assert not list(models.glob(f"{HISTORY_FILE}*.tmp"))
