"""Station behaviour with fakes: one row per part whatever happens, clean stop, metrics."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from inspector.capture.config import FolderSourceConfig
from inspector.capture.folder import FolderSource
from inspector.domain import SerialSource, Status, Verdict
from inspector.outputs.command import CommandOutput
from inspector.pipeline.serial_hook import SerialResolver
from inspector.serials import FilenameReaderConfig, FilenameSerialReader
from inspector.serials.base import SerialRead
from inspector.storage.archive import ImageArchive

from .fakes import CARD, FakeClassifier, FakeSource, FakeStore, RecordingOutput, gray


def test_folder_replay_gives_exactly_one_row_per_image(make_station, image_folder, tmp_path):
    folder = image_folder(23)
    store, output = FakeStore(), RecordingOutput()
    station = make_station(
        FolderSource(FolderSourceConfig(type="folder", path=folder)),
        store=store,
        settings={"batch_max": 4, "store_batch_size": 5},
        serials=SerialResolver(FilenameSerialReader(FilenameReaderConfig())),
        archive=ImageArchive(tmp_path / "img", ok_sample_rate=0.0),
        outputs=[output],
    )
    station.start()
    assert station.wait(20)
    rows = list(store.rows.values())
    assert sorted(r.serial for r in rows) == [f"part-{i:04d}" for i in range(23)]
    assert {r.serial_source for r in rows} == {SerialSource.FILENAME}
    assert all(r.status is Status.OK for r in rows)
    by_serial = {r.serial: r for r in rows}
    assert by_serial["part-0001"].verdict is Verdict.NG
    assert by_serial["part-0000"].verdict is Verdict.OK
    # NG frames are archived with their heatmap; sampled-out OK frames are not.
    assert by_serial["part-0001"].image_path and by_serial["part-0001"].heatmap_path
    assert by_serial["part-0000"].image_path is None
    assert (tmp_path / "img" / by_serial["part-0001"].image_path).is_file()
    assert len(output.seen) == 23
    m = station.metrics()
    assert (m.parts, m.triggered, m.rows_committed, m.dropped_frames) == (23, 23, 23, 0)
    assert m.verdicts == {"OK": 12, "NG": 11, "REVIEW": 0}
    assert m.inference_ms_p50 is not None and m.e2e_ms_p99 is not None


def test_classifier_failure_gives_error_rows_for_the_bad_part_only(make_station):
    images = [gray(10), gray(20), gray(77), gray(30), gray(200)]
    classifier = FakeClassifier(fail=lambda img: int(img[0, 0]) == 77)
    store = FakeStore()
    station = make_station(FakeSource(images), classifier, store=store,
                           settings={"batch_max": 8})
    station.start()
    assert station.wait(10)
    rows = sorted(store.rows.values(), key=lambda r: r.captured_at)
    assert [r.status for r in rows] == [Status.OK, Status.OK, Status.ERROR, Status.OK, Status.OK]
    bad = rows[2]
    assert bad.verdict is Verdict.REVIEW and "fake model failure" in bad.error
    assert station.metrics().statuses["error"] == 1


def test_backlog_overflow_records_overflow_rows_and_loses_no_part(make_station):
    gate = threading.Event()
    classifier = FakeClassifier(gate=gate)
    store = FakeStore()
    source = FakeSource([gray(i) for i in range(40)], live=True, pace_s=0.002)
    station = make_station(source, classifier, store=store,
                           settings={"jobs_queue": 2, "batch_max": 1, "frames_queue": 64})
    station.start()
    deadline = time.monotonic() + 5
    while len(source.delivered) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.set()
    assert station.wait(10)
    m = station.metrics()
    rows = list(store.rows.values())
    overflow = [r for r in rows if r.status is Status.OVERFLOW]
    assert overflow and all(r.verdict is Verdict.REVIEW for r in overflow)
    # Frames may be dropped, parts may not: every triggered part has exactly one row.
    assert len(rows) == m.parts == m.triggered
    assert m.frames_captured == m.triggered + m.dropped_frames
    assert m.drops["backlog_full"] == len(overflow)


def test_stop_flushes_every_queued_part(make_station):
    store = FakeStore()
    classifier = FakeClassifier(delay_s=0.02)
    source = FakeSource([gray(i % 256) for i in range(500)], live=True, pace_s=0.002)
    station = make_station(source, classifier, store=store,
                           settings={"jobs_queue": 1000, "batch_max": 1, "frames_queue": 1000})
    station.start()
    while station.metrics().triggered < 30:
        time.sleep(0.01)
    queued = station.metrics().queue_depths["jobs"]
    assert station.stop(timeout=30)
    m = station.metrics()
    assert queued > 0  # parts were still waiting for the model when stop was asked
    assert len(store.rows) == m.triggered == m.parts == m.rows_committed
    assert not station.running and source.closed


def test_database_away_journals_then_replays_without_duplicates(make_station, tmp_path):
    store = FakeStore()
    store.down = True
    source = FakeSource([gray(i) for i in range(10)], live=True, pace_s=0.01, end=False)
    events: list[tuple[str, int]] = []
    station = make_station(source, store=store)
    station.add_listener(lambda event, rows: events.append((event, len(rows))))
    station.start()
    while station.metrics().rows_journaled < 5:
        time.sleep(0.01)
    m = station.metrics()
    assert not m.db_online and m.journal_pending >= 5 and not store.rows
    store.down = False
    while len(source.delivered) < 10 or station.metrics().journal_pending:
        time.sleep(0.01)
    assert station.stop(10)
    m = station.metrics()
    assert m.db_online and m.journal_pending == 0
    assert len(store.rows) == m.parts == 10
    assert any(e == "journaled" for e, _ in events)
    assert (tmp_path / "journal.jsonl").read_bytes() == b""


def test_journal_left_by_a_previous_run_is_replayed_on_start(make_station, tmp_path):
    from inspector.storage.journal import Journal

    store = FakeStore()
    first = make_station(FakeSource([gray(1), gray(2)]), store=FakeStore(),
                         journal=Journal(tmp_path / "j.jsonl"))
    first.parts.store.down = True
    first.start()
    assert first.wait(10)
    assert Journal(tmp_path / "j.jsonl").pending() == 2
    second = make_station(FakeSource([gray(3)]), store=store, journal=Journal(tmp_path / "j.jsonl"))
    second.start()
    assert second.wait(10)
    assert len(store.rows) == 3 and Journal(tmp_path / "j.jsonl").pending() == 0


def test_command_output_runs_per_verdict_and_failures_do_not_stop(make_station, tmp_path):
    log = tmp_path / "signals.txt"
    script = "import sys; open(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + '\\n')"
    command = CommandOutput(
        {
            Verdict.NG: [sys.executable, "-c", script, str(log), "{verdict}", "{part_id}"],
            Verdict.OK: [sys.executable, "-c", "import sys; sys.exit(3)"],
        },
        timeout_s=10,
    )
    store = FakeStore()
    station = make_station(FakeSource([gray(10), gray(200), gray(220), gray(5)]),
                           store=store, outputs=[command])
    station.start()
    assert station.wait(30)
    ng_ids = sorted(r.part_id for r in store.rows.values() if r.verdict is Verdict.NG)
    lines = sorted(log.read_text().split("\n")[:-1])
    assert lines == sorted(f"NG {pid}" for pid in ng_ids) and len(ng_ids) == 2
    assert command.failures == 2 and station.metrics().output_failures == 2


def test_unwritable_image_folder_keeps_rows_and_reports_disk_problem(make_station, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the image folder should be")
    store = FakeStore()
    station = make_station(FakeSource([gray(200), gray(210), gray(10)]), store=store,
                           archive=ImageArchive(blocker / "images", ok_sample_rate=1.0))
    station.start()
    assert station.wait(10)
    assert len(store.rows) == 3
    assert all(r.image_path is None for r in store.rows.values())
    m = station.metrics()
    assert m.disk_problem and "cannot write images" in m.extra["disk_message"]


def test_status_row_is_published(make_station):
    store = FakeStore()
    station = make_station(FakeSource([gray(1)] * 3), store=store)
    station.start()
    assert station.wait(10)
    status = store.status["station-1"]
    assert status["parts"] == 3 and status["camera_state"] == "ended"
    # the central fleet view reads the active model from this row
    assert status["model_version"] == CARD.version and CARD.version


def test_folder_source_missing_raises_on_start(make_station, tmp_path):
    import pytest

    from inspector.errors import SourceError

    station = make_station(FolderSource(FolderSourceConfig(type="folder", path=tmp_path / "x")))
    with pytest.raises(SourceError):
        station.start()


def test_external_trigger_needs_external_policy(make_station):
    import pytest

    from inspector.pipeline.station import StationStateError

    station = make_station(FakeSource([gray(1)]))
    with pytest.raises(StationStateError, match="external"):
        station.trigger("X")




class BlockingSerialReader:
    """A code reader stuck on a hard label until released (a slow read on the line)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.reads = 0

    def read(self, frame, trigger=None):
        self.release.wait(10)
        self.reads += 1
        return SerialRead(f"SN-{int(frame.image[0, 0]):03d}", SerialSource.CODE)


def test_slow_serial_reads_do_not_hold_up_triggering(make_station):
    reader = BlockingSerialReader()
    store = FakeStore()
    station = make_station(FakeSource([gray(i) for i in range(12)]), store=store,
                           settings={"jobs_queue": 64, "batch_max": 4},
                           serials=SerialResolver(reader))
    station.start()
    deadline = time.monotonic() + 5
    while station.metrics().triggered < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    # Every part was triggered while the first code read was still blocked.
    assert station.metrics().triggered == 12 and reader.reads == 0
    reader.release.set()
    assert station.wait(10)
    rows = list(store.rows.values())
    assert sorted(r.serial for r in rows) == [f"SN-{i:03d}" for i in range(12)]
    assert {r.serial_source for r in rows} == {SerialSource.CODE}


class ThreadRecordingClassifier(FakeClassifier):
    """A fake model that notes which thread judged each batch (and is a little slow)."""

    def __init__(self) -> None:
        super().__init__(delay_s=0.003)
        self.threads: list[str] = []

    def predict(self, images, heatmaps=True):
        self.threads.append(threading.current_thread().name)
        return super().predict(images, heatmaps)


@pytest.mark.parametrize("inference_threads", [1, 2, 3])
def test_parts_judged_side_by_side_each_get_exactly_one_row(make_station, inference_threads):
    store = FakeStore()
    classifier = ThreadRecordingClassifier()
    images = [gray(30 + i) for i in range(120)]
    station = make_station(FakeSource(images), classifier, store=store,
                           settings={"batch_max": 2, "inference_threads": inference_threads})
    station.start()
    assert station.wait(30)
    rows = list(store.rows.values())
    assert len(rows) == len({r.part_id for r in rows}) == 120
    assert all(r.status is Status.OK for r in rows)
    # Each row holds its own part's verdict (the fake scores an image by its brightness).
    assert sorted(round(r.defect_score * 255) for r in rows) == list(range(30, 150))
    # Every inference thread took part (the model is slower than the source).
    assert set(classifier.threads) == {f"inference-{i}" for i in range(inference_threads)}
    m = station.metrics()
    assert m.parts == m.triggered == m.rows_committed == 120


def test_a_bug_in_an_inference_thread_costs_a_verdict_never_a_row(make_station, monkeypatch):
    from inspector.pipeline.inference import InferenceWorker

    store = FakeStore()
    real = InferenceWorker._classify
    failed = threading.Event()

    def fail_once(self, jobs, slot):
        if self.name == "inference-1" and not failed.is_set():
            failed.set()
            raise RuntimeError("bug in one inference thread")
        return real(self, jobs, slot)

    monkeypatch.setattr(InferenceWorker, "_classify", fail_once)
    output = ImmediateOutput()
    station = make_station(FakeSource([gray(40)] * 60), FakeClassifier(delay_s=0.002), store=store,
                           outputs=[output], settings={"batch_max": 1, "inference_threads": 2})
    station.start()
    assert station.wait(30)
    assert failed.is_set()
    rows = list(store.rows.values())
    assert len(rows) == station.metrics().rows_committed == 60  # every part has its row
    errors = [r for r in rows if r.status is Status.ERROR]
    assert len(errors) == 1 and "bug in one inference thread" in errors[0].error
    assert errors[0].verdict is Verdict.REVIEW
    told = [r.captured_at for r in output.seen]
    assert len(told) == 60 and told == sorted(told)  # and the line heard them in order


class UnevenClassifier(FakeClassifier):
    """Bright (NG) parts take ten times as long as dark ones, like a heatmap's extra work."""

    def predict(self, images, heatmaps=True):
        time.sleep(0.02 if any(im.mean() >= 128 for im in images) else 0.002)
        return super().predict(images, heatmaps)


class ImmediateOutput(RecordingOutput):
    when = "immediate"  # the reject path: told as soon as the verdict exists


@pytest.mark.parametrize("batch_max", [1, 3])
def test_the_line_hears_verdicts_in_trigger_order_whichever_thread_judged(make_station, batch_max):
    # Every third part is NG and slow; some are blank (a bad_image row before the model).
    images = [gray(200) if i % 3 == 0 else gray(0, 32) if i % 7 == 0 else gray(40 + i)
              for i in range(90)]
    output, store = ImmediateOutput(), FakeStore()
    station = make_station(FakeSource(images), UnevenClassifier(), store=store, outputs=[output],
                           settings={"batch_max": batch_max, "inference_threads": 2})
    station.start()
    assert station.wait(30)
    assert len(output.seen) == len(store.rows) == 90
    told = [r.captured_at for r in output.seen]
    assert told == sorted(told)  # the order the parts were triggered in
    assert {r.status for r in output.seen} == {Status.OK, Status.BAD_IMAGE}


def test_verdicts_held_behind_a_missing_batch_go_out_after_the_wait():
    from inspector.pipeline.in_order import InOrder

    told = []
    line = InOrder(told.append, wait_s=0.05)
    first, second, third = line.take(), line.take(), line.take()
    line.done(second, ["b"])
    assert told == []  # held: the first batch is still being judged
    line.done(first, ["a1", "a2"])
    assert told == ["a1", "a2", "b"]
    fourth = line.take()
    line.done(fourth, ["d"])  # the third never comes (its thread died)
    line.release_overdue()
    assert told[-1] == "b"  # not yet: it waits for the third a while
    time.sleep(0.06)
    line.release_overdue()  # an inference thread found no work: the overdue one goes out
    assert told == ["a1", "a2", "b", "d"]
    line.done(third, ["c"])  # the late one goes out at once, out of turn
    assert told[-1] == "c"
    line.done(line.take() + 1, ["g"])  # held behind a missing batch when the run ends
    line.flush()
    assert told[-1] == "g"


def test_only_a_batch_that_was_held_is_checked_again_as_it_goes():
    from inspector.pipeline.in_order import InOrder

    told, checked = [], []

    def recheck(name):
        return lambda outcomes: checked.append(name) or [o + "!" for o in outcomes]

    line = InOrder(told.append)
    first, second = line.take(), line.take()
    line.done(second, ["b"], recheck("second"))
    line.done(first, ["a"], recheck("first"))
    assert told == ["a", "b!"] and checked == ["second"]


def test_a_held_batch_whose_check_fails_still_goes_out_as_judged():
    from inspector.pipeline.in_order import InOrder
    from inspector.pipeline.metrics import MetricsRecorder

    def broken(outcomes):
        raise RuntimeError("bug in the late check")

    told, recorder = [], MetricsRecorder()
    line = InOrder(told.append, recorder)
    first, second, third = line.take(), line.take(), line.take()
    line.done(second, ["b"], broken)
    line.done(third, ["c"], lambda outcomes: [o + "!" for o in outcomes])
    line.done(first, ["a"])  # releases both held batches: the broken check stops neither
    assert told == ["a", "b", "c!"]
    assert "bug in the late check" in recorder.last_error


class StallingClassifier(FakeClassifier):
    """Judges every part in 2 ms, but one (mean 77) takes 0.5 s: a thread the OS stalls."""

    def predict(self, images, heatmaps=True):
        time.sleep(0.5 if any(round(im.mean()) == 77 for im in images) else 0.002)
        return super().predict(images, heatmaps)


def test_verdicts_held_past_their_deadline_behind_a_slow_part_are_late(make_station, monkeypatch):
    from collections import Counter

    reads, real_resolve = Counter(), SerialResolver.resolve

    def counted(self, trigger):
        reads[trigger.part_id] += 1
        return real_resolve(self, trigger)

    monkeypatch.setattr(SerialResolver, "resolve", counted)
    images = [gray(77) if i == 5 else gray(40) for i in range(40)]
    output, store = ImmediateOutput(), FakeStore()
    station = make_station(FakeSource(images, live=True, pace_s=0.01), StallingClassifier(),
                           store=store, outputs=[output],
                           settings={"batch_max": 1, "inference_threads": 2, "deadline_s": 0.3,
                                     "frames_queue": 64})
    station.start()
    assert station.wait(30)
    rows = sorted(store.rows.values(), key=lambda r: r.captured_at)
    assert len(rows) == len(output.seen) == station.metrics().triggered
    held = [r for r in rows if r.status is Status.LATE and "held behind an earlier part" in (r.error or "")]
    # The other thread judged the parts after the slow one in time, but they could only be told
    # after it: those past 0.3 s are late rows (REVIEW), never a verdict the part has outrun.
    assert held and all(r.verdict is Verdict.REVIEW for r in held)
    assert rows[5].status is Status.OK  # the slow part itself: judged, in its turn
    assert set(reads.values()) == {1}  # a late row keeps the serial read for its part
    told = [r.captured_at for r in output.seen]
    assert told == sorted(told)
