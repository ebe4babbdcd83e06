"""GET /inspections?condition=...: the parts a root-cause finding rests on (issue 33 click-through)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from inspector.trace.simulate import LineSpec, simulate, to_inspection

from .conftest import T0


def _line(store, events, uid: str) -> tuple[datetime, dict]:
    start = T0.replace(year=2101) + timedelta(days=int(uid, 16) % 900_000)
    spec = LineSpec(parts=1_500, seed=6, start=start, serial_prefix=f"U{uid}", station_id=uid)
    parts = list(simulate(spec))
    events.insert([e for p in parts for e in p.events])
    store.write([to_inspection(p, spec.station_id) for p in parts])
    return start, {"since": start.isoformat(), "until": (start + timedelta(days=1)).isoformat(),
                   "station_id": uid}


def _count(client, params: dict) -> int:
    total, cursor = 0, None
    while True:
        page = client.get("/inspections", params={**params, "limit": 500,
                                                  **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        total += body["count"]
        cursor = body["next_cursor"]
        if not cursor:
            return total


def test_each_finding_lists_exactly_the_parts_it_rests_on(client, store, events, uid) -> None:
    _, window = _line(store, events, uid)
    rc = client.get("/root-cause", params=window).json()
    kinds = {}
    for finding in rc["ranked"]:
        kinds.setdefault(finding["kind"], finding)
    assert {"machine", "parameter", "combination"} <= set(kinds)
    for finding in kinds.values():
        assert finding["where"], finding
        listed = _count(client, {**window, "condition": finding["where"]})
        assert listed == finding["group_parts"], (finding["name"], finding["where"])
        ng = _count(client, {**window, "condition": finding["where"], "verdict": "NG"})
        assert ng == finding["group_defects"], finding["name"]


def test_machine_parameter_and_value_filters(client, store, events, uid) -> None:
    _, window = _line(store, events, uid)
    all_parts = _count(client, window)
    kiln2 = _count(client, {**window, "machine": "kiln-2", "step": "firing"})
    kiln1 = _count(client, {**window, "condition": "kiln-1 (firing)"})
    assert kiln1 + kiln2 == all_parts and 0 < kiln2 < all_parts
    assert _count(client, {**window, "machine": "kiln-2", "step": "grinding"}) == 0
    low = _count(client, {**window, "parameter": "firing.temperature", "max": 852})
    high = _count(client, {**window, "parameter": "firing.temperature", "min": 852})
    assert low + high == all_parts and low > 0 and high > 0
    middle = _count(client, {**window, "parameter": "firing.temperature", "min": 850, "max": 852})
    assert 0 < middle < low
    zone_a = _count(client, {**window, "parameter": "firing.zone", "value": "A"})
    assert zone_a == _count(client, {**window, "condition": "firing.zone = A"})
    assert 0 < zone_a < all_parts
    both = _count(client, {**window, "condition": ["firing.zone = A", "kiln-2 (firing)"]})
    assert 0 < both < min(zone_a, kiln2)


@pytest.mark.parametrize("params, message", [
    ({"condition": "firing.temperature < hot"}, "is not a number"),
    ({"condition": "firing.temperature in 1 to 2"}, "'in' needs 'low .. high'"),
    ({"min": 3}, "give parameter=step.name"),
    ({"parameter": "temperature", "min": 3}, "parameter must be 'step.name'"),
    ({"parameter": "firing.temperature"}, "needs min, max or value"),
    ({"parameter": "firing.zone", "value": "A", "max": 2}, "not both"),
    ({"parameter": "firing.temperature", "min": "inf"}, "finite"),
    ({"step": "firing"}, "only together with machine"),
    ({"condition": ["a", "b", "c", "d"]}, "at most 3"),
])
def test_bad_conditions_are_422_with_the_reason(client, params: dict, message: str) -> None:
    response = client.get("/inspections", params=params)
    assert response.status_code == 422 and message in response.text, response.text
