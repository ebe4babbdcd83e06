"""Bernoulli CUSUM monitors on a station's defect rate: an alert while the rate is still rising."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import numpy as np
from scipy import sparse, stats
from scipy.sparse.linalg import spsolve

from inspector.storage.alerts import DEFECT_RATE, Alert

GRID = 2          # the good-part step of the CUSUM is GRID units of the Markov chain
POSTERIOR = (0.1, 0.3, 0.5, 0.7, 0.9)   # the baseline's posterior, by its quintiles' midpoints


@dataclass(frozen=True)
class Design:
    """A Bernoulli CUSUM for a rise from `p0` to `shift` x p0: S = max(0, S + w), w = log(p1/p0)
    for a defect and log((1 - p1)/(1 - p0)) for a good part; alert when S >= h.

    h is the smallest threshold whose chance of a false alarm within `horizon` parts of a line
    that stays at its baseline is at most `false_alarm`, the baseline's own uncertainty
    included: with the baseline estimated from `baseline_defects` of `baseline_parts`, the
    chance is averaged over the true rate's posterior (Jeffreys), each from the in-control
    average run length ARL0 (Brook and Evans' Markov chain on a grid of GRID units per good
    part) as 1 - exp(-horizon / ARL0).
    """

    p0: float
    shift: float
    h: float
    horizon: int
    false_alarm: float
    arl0: float                      # at p0 itself
    false_alarm_at_p0: float

    @property
    def p1(self) -> float:
        return min(0.999, self.p0 * self.shift)

    @property
    def weights(self) -> tuple[float, float]:
        """(defect, good part) increments of S."""
        return (math.log(self.p1 / self.p0), math.log((1 - self.p1) / (1 - self.p0)))


def design(baseline_parts: int, baseline_defects: int, shift: float = 1.5,
           horizon: int = 10_000, false_alarm: float = 0.05) -> Design:
    """The CUSUM for a baseline of `baseline_defects` in `baseline_parts` (see Design)."""
    if baseline_parts < 1 or not 0 <= baseline_defects <= baseline_parts:
        raise ValueError(f"a baseline needs parts >= 1 and 0 <= defects <= parts, got "
                         f"{baseline_defects} of {baseline_parts}")
    p0 = (baseline_defects + 0.5) / (baseline_parts + 1)   # Jeffreys: no zero rate
    truth = stats.beta.ppf(POSTERIOR, baseline_defects + 0.5,
                           baseline_parts - baseline_defects + 0.5)
    h_units = _threshold(round(p0, 6), round(shift, 4), tuple(np.round(truth, 7)), horizon,
                         false_alarm)
    unit = -_weights(p0, shift)[1] / GRID
    arl0 = _arl(p0, p0, shift, h_units)
    return Design(p0, shift, h_units * unit, horizon, false_alarm, arl0,
                  1 - math.exp(-horizon / arl0))


def _weights(p0: float, shift: float) -> tuple[float, float]:
    p1 = min(0.999, p0 * shift)
    return math.log(p1 / p0), math.log((1 - p1) / (1 - p0))


@lru_cache(maxsize=256)
def _threshold(p0: float, shift: float, truth: tuple[float, ...], horizon: int,
               false_alarm: float) -> int:
    """Smallest h (grid units, to 1%) whose averaged false-alarm chance is at most
    `false_alarm`: log(chance) is close to linear in h, so a few secant steps find it."""
    def excess(units: int) -> float:
        chance = np.mean([-math.expm1(-horizon / _arl(p0, p, shift, units)) for p in truth])
        return math.log(max(float(chance), 1e-300)) - math.log(false_alarm)

    lo, hi = 0, 16 * GRID          # excess(lo) > 0 >= excess(hi) once bracketed
    f_lo, f_hi = math.inf, excess(hi)
    while f_hi > 0:
        lo, f_lo, hi = hi, f_hi, hi * 2
        if hi > 10**6:
            raise ValueError("no CUSUM threshold reaches that false-alarm rate")
        f_hi = excess(hi)
    while hi - lo > max(1, hi // 100):
        # regula falsi on the (near linear) log chance, kept inside the bracket
        mid = (lo + hi) // 2 if math.isinf(f_lo) else int(lo + f_lo * (hi - lo) / (f_lo - f_hi))
        mid = min(max(mid, lo + 1), hi - 1)
        f_mid = excess(mid)
        if f_mid > 0:
            lo, f_lo = mid, f_mid
        else:
            hi, f_hi = mid, f_mid
    return hi


def _arl(p0: float, p: float, shift: float, units: int) -> float:
    """Average run length from S = 0 when the true rate is p: states 0..units-1 of S in grid
    units, a good part steps GRID down (to 0 at least), a defect up by its weight rounded."""
    w1, w0 = _weights(p0, shift)
    up = max(1, round(w1 / (-w0 / GRID)))
    i = np.arange(units)
    down = np.maximum(i - GRID, 0)
    rise = i + up
    keep = rise < units
    q = sparse.csr_matrix((np.r_[np.full(units, 1 - p), np.full(int(keep.sum()), p)],
                           (np.r_[i, i[keep]], np.r_[down, rise[keep]])), shape=(units, units))
    x = spsolve((sparse.identity(units, format="csr") - q).tocsc(), np.ones(units))
    return float(x[0])


@dataclass(frozen=True)
class Change:
    """A monitor's alert raised (alert) or cleared (alert None) at the part `serial`."""

    raised: bool
    alert: Alert | None
    subject: str
    serial: str


class RateMonitor:
    """One CUSUM on one station's defect rate (one class, or every NG part).

    Raised once when S reaches h; cleared once S is back at 0 (the rate fell back); raised
    again only after that. Each alert rests on the parts since S last left 0 (where the CUSUM
    puts the start of the rise), their defects, the baseline rate, S and h.
    """

    def __init__(self, station_id: str | None, defect_class: str | None, plan: Design) -> None:
        self.station_id, self.defect_class, self.plan = station_id, defect_class, plan
        self.s = 0.0
        self.raised = False
        self.parts = 0                # parts seen
        self.rise_parts = 0           # parts since S last left 0, and their defects
        self.rise_defects = 0
        self.rise_first: str | None = None

    @property
    def subject(self) -> str:
        what = self.defect_class or "NG"
        return f"{what} rate at {self.station_id}" if self.station_id else f"{what} rate"

    def update(self, defects: np.ndarray, serials: Sequence[str],
               at: datetime | None = None) -> list[Change]:
        """Feed parts in order (vectorised: S is the running sum less its running minimum)."""
        defects = np.asarray(defects, dtype=bool)
        if defects.size != len(serials):
            raise ValueError(f"{defects.size} defect flags for {len(serials)} serials")
        changes: list[Change] = []
        w1, w0 = self.plan.weights
        start = 0
        while start < defects.size:
            y = defects[start:]
            c = self.s + np.cumsum(np.where(y, w1, w0))
            s = c - np.minimum(0.0, np.minimum.accumulate(c))
            zero = s <= 0.0
            if self.raised:
                event = int(np.argmax(zero)) if zero.any() else -1
            else:
                above = s >= self.plan.h
                event = int(np.argmax(above)) if above.any() else -1
            stop = y.size if event < 0 else event + 1
            self._advance(y[:stop], s[:stop], zero[:stop], serials[start:start + stop])
            if event >= 0:
                serial = serials[start + event]
                if self.raised:
                    self.raised = False
                    changes.append(Change(False, None, self.subject, serial))
                else:
                    self.raised = True
                    changes.append(Change(True, self._alert(serial, at), self.subject, serial))
            start += stop
        return changes

    def _advance(self, y: np.ndarray, s: np.ndarray, zero: np.ndarray,
                 serials: Sequence[str]) -> None:
        if not y.size:
            return
        self.parts += y.size
        self.s = float(s[-1])
        zeros = np.flatnonzero(zero)
        if zeros.size:  # the rise starts after the last part that left S at 0
            first = int(zeros[-1]) + 1
            self.rise_parts, self.rise_defects = 0, 0
            self.rise_first = serials[first] if first < y.size else None
        else:
            first = 0
            if self.rise_first is None:
                self.rise_first = serials[0]
        self.rise_parts += y.size - first
        self.rise_defects += int(y[first:].sum())

    def _alert(self, serial: str, at: datetime | None) -> Alert:
        p = self.plan
        rate = self.rise_defects / self.rise_parts if self.rise_parts else 0.0
        what = self.defect_class or "NG"
        where = f" at {self.station_id}" if self.station_id else ""
        message = (f"{what} rate{where} is rising: {self.rise_defects} of the last "
                   f"{self.rise_parts} parts ({rate:.1%}, against a baseline of {p.p0:.1%}); "
                   f"CUSUM {self.s:.2f} >= {p.h:.2f}, set for a {p.shift:g}x rise with at most "
                   f"{p.false_alarm:.0%} false alarms in {p.horizon} parts: check the line "
                   "before NG piles up")
        return Alert(
            raised_at=at or datetime.now(UTC), station_id=self.station_id, monitor=DEFECT_RATE,
            subject=self.subject, defect_class=self.defect_class, message=message,
            statistic=self.s, threshold=p.h, baseline=p.p0, current=rate, parts=self.rise_parts,
            defects=self.rise_defects, first_serial=self.rise_first, last_serial=serial,
            evidence={"method": "bernoulli_cusum", "p1": p.p1, "shift": p.shift,
                      "horizon_parts": p.horizon, "false_alarm": p.false_alarm,
                      "arl0_parts": round(p.arl0, 1), "parts_monitored": self.parts})
