"""StationController: idempotent triggers, model hot swap under load, live thresholds."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from inspector.config import ExternalTrigger
from inspector.domain import Status
from inspector.model.card import Thresholds
from inspector.pipeline.controller import StationController
from inspector.pipeline.station import StationStateError
from inspector.pipeline.triggers import ExternalPolicy

from .fakes import CARD, FakeClassifier, FakeSource, FakeStore, gray


class NamedClassifier(FakeClassifier):
    """A fake model whose name is its card's and is written into every label it gives."""

    def __init__(self, name: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.card = dataclasses.replace(CARD, name=name)

    def predict(self, images, heatmaps=True):
        return [dataclasses.replace(p, label=f"{p.label}-{self.card.name}")
                for p in super().predict(images, heatmaps)]


def test_hot_swap_under_load_loses_nothing_and_each_row_names_its_scorer(make_station):
    store = FakeStore()
    frames = [gray(40 + i % 150) for i in range(600)]
    station = make_station(FakeSource(frames), NamedClassifier("model-a", delay_s=0.002),
                           store=store, settings={"batch_max": 4})
    control = StationController(station, Path("model-a"),
                                load=lambda bundle: NamedClassifier(bundle.name, delay_s=0.002))
    station.start()
    while station.metrics().parts < 150:
        time.sleep(0.005)
    active = control.activate_model(Path("model-b"))
    assert active.card.name == "model-b" and active.bundle == Path("model-b")
    assert station.wait(60)
    rows = sorted(store.rows.values(), key=lambda r: r.captured_at)
    assert len(rows) == 600 and len({r.part_id for r in rows}) == 600  # none lost, none twice
    names = [r.model_version.split("@")[0] for r in rows]
    assert all(r.label.endswith(name) for r, name in zip(rows, names, strict=True))
    # Batches in flight on either inference thread finish on model-a: at most one batch each
    # (4 parts) of model-a comes after the first model-b row, then only model-b.
    first_b, last_a = names.index("model-b"), len(names) - 1 - names[::-1].index("model-a")
    assert first_b >= 150 and last_a - first_b < 2 * 4
    assert set(names[:first_b]) == {"model-a"} and set(names[last_a + 1:]) == {"model-b"}


def test_new_thresholds_apply_to_the_next_parts_and_rows_record_them(make_station):
    store = FakeStore()
    station = make_station(FakeSource([gray(100)] * 200), FakeClassifier(delay_s=0.002), store=store)
    control = StationController(station, Path("fake"))
    station.start()
    while station.metrics().parts < 50:
        time.sleep(0.005)
    control.set_thresholds(Thresholds(ng=0.9, review=0.35))  # 100/255 = 0.39: now REVIEW
    assert station.wait(30)
    rows = sorted(store.rows.values(), key=lambda r: r.captured_at)
    assert {r.threshold_ng for r in rows} == {0.5, 0.9}
    assert all(r.status is Status.OK for r in rows)


def test_a_part_reference_announced_twice_is_one_part(make_station):
    store = FakeStore()
    station = make_station(FakeSource([gray(40)] * 5, end=False), store=store,
                           trigger=ExternalPolicy(ExternalTrigger(type="external", max_skew_s=5)))
    seen_in_store = {"OLD-7": "part-from-before-a-restart"}
    control = StationController(station, Path("fake"), lookup=seen_in_store.get)
    station.start()
    first = control.trigger("SN-1", "PLC-1")
    again = control.trigger("SN-1", "PLC-1")
    old = control.trigger("SN-7", "OLD-7")
    assert not first.duplicate and again.duplicate and again.part_id == first.part_id
    assert old.duplicate and old.part_id == "part-from-before-a-restart"
    assert station.stop(10)
    assert [r.part_ref for r in store.rows.values()] == ["PLC-1"]


def test_a_stopped_station_refuses_triggers(make_station):
    station = make_station(FakeSource([gray(40)]),
                           trigger=ExternalPolicy(ExternalTrigger(type="external")))
    control = StationController(station, Path("fake"))
    with pytest.raises(StationStateError):
        control.trigger("SN-1")


@pytest.mark.parametrize(("inference_threads", "session_threads"), [(2, 1), (1, 2)])
def test_a_model_loads_with_one_onnx_thread_per_part_judged_side_by_side(
        make_station, tiny_bundle, tmp_path, inference_threads, session_threads):
    from inspector.config import parse_config
    from inspector.pipeline.factory import build_parts

    cfg = parse_config({"station": {"id": "s", "data_dir": str(tmp_path / "data")},
                        "source": {"type": "folder", "path": str(tmp_path)},
                        "model": {"bundle": str(tiny_bundle), "inference_threads": inference_threads}})
    # The station's own model, and one activated later, as its inference threads run them.
    assert build_parts(cfg).classifier.settings.threads == session_threads
    station = make_station(FakeSource([gray(40)]), settings={"inference_threads": inference_threads})
    control = StationController(station, Path("fake"))
    assert control.activate_model(tiny_bundle).bundle == tiny_bundle
    assert station.classifier.settings.threads == session_threads


def test_a_model_activated_on_a_torch_station_runs_on_torch(make_station, tiny_bundle):
    pytest.importorskip("torch")
    station = make_station(FakeSource([gray(40)]))
    control = StationController(station, Path("fake"), backend="torch")
    control.activate_model(tiny_bundle)
    assert type(station.classifier).__name__ == "TorchClassifier"
