"""DefectRateWatch: the station's rate monitors fed with stored rows; alerts stored and announced."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from inspector.domain import Alarm, Inspection, Status, Verdict
from inspector.errors import StoreError
from inspector.storage.alerts import Alert, AlertStore, Baseline
from inspector.trace.config import AlertsConfig
from inspector.trace.monitor import Change, RateMonitor, design

logger = logging.getLogger(__name__)

ALL_NG = None  # the monitor of every NG part, whatever its class


def alarm_kind(defect_class: str | None) -> str:
    """The alarm (and MQTT topic segment) of a monitor: defect_rate_crack, defect_rate_ng."""
    return f"defect_rate_{defect_class or 'ng'}"


class DefectRateWatch:
    """Monitors per class (and all NG) of one station, fed with each batch of stored rows.

    The baseline is the station's last `baseline_parts` parts when the first batch comes; with
    a shorter history, the first parts of the run are the baseline and monitoring starts
    after them. A raised alert is stored (alerts table) and told to every output that takes
    alarms (the MQTT line publishes it, retained, on its alarm topic); a cleared one too.
    """

    def __init__(self, station_id: str, cfg: AlertsConfig, store: AlertStore,
                 outputs: Sequence[object] = (), learn_first: bool = False,
                 keep: bool = True) -> None:
        self.station_id, self.cfg, self.store = station_id, cfg, store
        self.learn_first = learn_first   # baseline: the first parts fed, not the station's last
        self.keep = keep                 # store the alerts (False: only report them)
        self.found: list[Alert] = []
        self.outputs = [o for o in outputs if callable(getattr(o, "alarm", None))]
        self.monitors: dict[str | None, RateMonitor] = {}
        self.learning: Baseline | None = None     # counts while the baseline is being learnt
        self.baseline = Baseline(1, 0, {})
        self.raised: dict[str | None, int] = {}   # monitor -> id of its open alert
        self.alerts = 0

    def __call__(self, event: str, rows: Sequence[Inspection]) -> None:
        """A StoreWriter listener: only committed rows count."""
        if event == "committed":
            self.feed(rows)

    def feed(self, rows: Sequence[Inspection]) -> list[Change]:
        judged = [r for r in rows if r.status == Status.OK]
        if not judged:
            return []
        if not self.monitors:
            judged = self._start(judged)   # what is left once the baseline is complete
            if not self.monitors or not judged:
                return []
        ng = np.array([r.verdict == Verdict.NG for r in judged])
        labels = np.array([r.label or "" for r in judged], dtype=object)
        serials = [r.serial or r.part_id for r in judged]
        times = dict(zip(serials, (r.inspected_at for r in judged), strict=True))
        for label in sorted({str(x) for x in labels[ng]} - {""}):
            if label not in self.monitors and self._watched(label):
                self.monitors[label] = self._monitor(label, 0)
        changes = []
        for cls, monitor in self.monitors.items():
            flags = ng if cls is ALL_NG else ng & (labels == cls)
            for change in monitor.update(flags, serials, times[serials[-1]]):
                self._announce(cls, change, times.get(change.serial) or datetime.now(UTC))
                changes.append(change)
        return changes

    def _watched(self, label: str) -> bool:
        return self.cfg.classes is None or label in self.cfg.classes

    def _start(self, judged: Sequence[Inspection]) -> Sequence[Inspection]:
        """Set the monitors up from the history, or learn the baseline from the first parts;
        returns the parts to monitor (none while the baseline is still being learnt)."""
        if self.learning is None and self.learn_first:
            self.learning = Baseline(0, 0, {})
        if self.learning is None:
            try:
                history = self.store.baseline(self.station_id, self.cfg.baseline_parts)
            except StoreError as exc:
                logger.warning("alerts: no baseline from the database yet: %s", exc)
                return []
            if history.parts >= self.cfg.baseline_parts:
                self._monitors(history)
                return judged
            self.learning = Baseline(0, 0, {})
        learnt = self.learning
        need = self.cfg.baseline_parts - learnt.parts
        taken, rest = judged[:need], judged[need:]
        by_label = dict(learnt.by_label)
        for r in taken:
            if r.verdict == Verdict.NG and r.label:
                by_label[r.label] = by_label.get(r.label, 0) + 1
        ng = learnt.ng + sum(r.verdict == Verdict.NG for r in taken)
        self.learning = Baseline(learnt.parts + len(taken), ng, by_label)
        if self.learning.parts < self.cfg.baseline_parts:
            return []
        self._monitors(self.learning)
        return rest

    def _monitors(self, base: Baseline) -> None:
        self.baseline = base
        self.monitors[ALL_NG] = self._monitor(ALL_NG, base.ng)
        for label, defects in sorted(base.by_label.items()):
            if self._watched(label):
                self.monitors[label] = self._monitor(label, defects)
        logger.info("alerts: watching %d rates of %s (baseline %d parts, %d NG)",
                    len(self.monitors), self.station_id, base.parts, base.ng)

    def _monitor(self, defect_class: str | None, defects: int) -> RateMonitor:
        parts = max(1, self.baseline.parts)
        plan = design(parts, min(defects, parts), self.cfg.shift, self.cfg.horizon_parts,
                      self.cfg.false_alarm)
        return RateMonitor(self.station_id, defect_class, plan)

    def _announce(self, cls: str | None, change: Change, at: datetime) -> None:
        if change.alert is not None:
            change = Change(change.raised, replace(change.alert, raised_at=at), change.subject,
                            change.serial)
            self.found.append(change.alert)
        message = change.alert.message if change.alert is not None else (
            f"{change.subject} is back at its baseline (from part {change.serial})")
        details = None
        try:
            if not self.keep:
                details = _details(change.alert) if change.alert is not None else None
            elif change.raised and change.alert is not None:
                stored = self.store.add(change.alert)
                self.raised[cls] = stored.id or 0
                self.alerts += 1
                details = _details(stored)
            elif cls in self.raised:
                self.store.clear(self.raised.pop(cls), at)
        except StoreError as exc:  # the line still hears of it
            logger.error("alerts: cannot store the alert on %s: %s", change.subject, exc)
            if change.alert is not None:
                details = _details(change.alert)
        (logger.warning if change.raised else logger.info)("alert %s: %s",
                                                          alarm_kind(cls), message)
        alarm = Alarm(alarm_kind(cls), change.raised, message, self.station_id, at, details)
        for output in self.outputs:
            try:
                output.alarm(alarm)
            except Exception:  # a plug-in boundary: an output's failure never stops the watch
                logger.exception("output %s failed on alert %s", type(output).__name__,
                                 alarm.kind)


def _details(alert: Alert) -> dict[str, Any]:
    return {"id": alert.id, "defect_class": alert.defect_class, "parts": alert.parts,
            "defects": alert.defects, "baseline": alert.baseline, "current": alert.current,
            "statistic": alert.statistic, "threshold": alert.threshold,
            "first_serial": alert.first_serial, "last_serial": alert.last_serial,
            **alert.evidence}


def scan_history(store: AlertStore, station_id: str, since: datetime, until: datetime,
                 cfg: AlertsConfig, keep: bool = False, chunk: int = 20_000) -> Iterator[Alert]:
    """The alerts the monitors would have raised over a stored history (a central database):
    the first `baseline_parts` parts of the window are the baseline, the rest are monitored in
    write order, `chunk` rows at a time. keep: store each one not stored before (same station,
    subject and raising part)."""
    watch = DefectRateWatch(station_id, cfg, _Unstored(store) if not keep else _Once(store),
                            learn_first=True, keep=True)
    after = 0
    while rows := store.parts(station_id, since, until, after, chunk):
        after = rows[-1].id
        watch.feed(rows)
        yield from watch.found
        watch.found.clear()


class _Unstored:
    """The store for a scan that only reports: adds nothing, clears nothing."""

    def __init__(self, store: AlertStore) -> None:
        self._store = store

    def baseline(self, station_id: str, parts: int) -> Baseline:
        return self._store.baseline(station_id, parts)

    def add(self, alert: Alert) -> Alert:
        return alert

    def clear(self, alert_id: int, at: datetime) -> None:
        return None


class _Once(_Unstored):
    """The store for a scan that keeps its alerts: one row per alert, however often it runs."""

    def add(self, alert: Alert) -> Alert:
        return alert if self._store.exists(alert) else self._store.add(alert)

    def clear(self, alert_id: int, at: datetime) -> None:
        if alert_id:
            self._store.clear(alert_id, at)
