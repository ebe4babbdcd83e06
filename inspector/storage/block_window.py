"""A root-cause window assembled from hour blocks: its parts, their counts, levels and sequences."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from inspector.domain import Verdict
from inspector.errors import StoreError
from inspector.storage.hour_blocks import HourBlock, Interner
from inspector.storage.window_counts import (
    MACHINE_SEP,
    Histogram,
    LevelFeature,
    MachineCounts,
    WindowCounts,
)

CHUNK = 100_000  # parts per chunk of level codes (the crosstabs widen each chunk to int64)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SequenceRows:
    """A window's parts in line order and their events by time (see BlockWindow.sequence_rows)."""

    serials: list[str]              # per part, in line order
    defect: np.ndarray              # bool per part
    part: np.ndarray                # per event (by ts, id): its part's line index
    machine: np.ndarray             # per event
    step: np.ndarray                # per event
    event_id: np.ndarray            # per event
    setting_event: np.ndarray       # per setting value: its event's id
    setting_key: np.ndarray         # 'step.name'
    setting_value: np.ndarray       # text, or a whole number as text


class _Strings(Interner):
    """One window's strings: each block's string indexes mapped to window-wide ids."""

    def ids(self, strings: list[str]) -> np.ndarray:
        """Window ids of a block's strings, with one more entry (-1) that index -1 reaches."""
        return np.array([*map(self, strings), -1], dtype=np.int32)

    def id(self, s: str) -> int:
        return self.index.get(s, -1)


def _micros(at: datetime) -> int:
    """Microseconds since the epoch, exactly (as the blocks keep times)."""
    return (at - EPOCH) // timedelta(microseconds=1)


class BlockWindow:
    """Parts inspected (status ok) in since <= t < until, latest inspection per serial, and
    what root cause counts of them; `load_sequences` gives blocks their event columns."""

    def __init__(self, blocks: list[HourBlock], since: datetime, until: datetime,
                 defect_class: str | None, count_review: bool,
                 load_sequences: Callable[[list[HourBlock]], None]) -> None:
        self._blocks, self._load_sequences = blocks, load_sequences
        self._strings = _Strings()
        self._maps = [self._strings.ids(b.strings) for b in blocks]
        rows = self._inspections(_micros(since), _micros(until))
        self._parts(rows, defect_class, count_review)
        self._features()

    def _inspections(self, since: int, until: int) -> dict[str, np.ndarray]:
        """Every status-ok inspection of the window: its block, serial, time, id and outcome
        (window string ids)."""
        cols: dict[str, list[np.ndarray]] = {k: [] for k in (
            "block", "serial", "hash", "at", "id", "verdict", "label", "review")}
        for b, (block, ids) in enumerate(zip(self._blocks, self._maps, strict=True)):
            m = block.main
            keep = np.flatnonzero((m["insp_at"] >= since) & (m["insp_at"] < until))
            local = m["insp_serial"][keep]
            cols["block"].append(np.full(keep.size, b, dtype=np.int32))
            cols["serial"].append(local)
            cols["hash"].append(m["serial_hash"][local])
            cols["at"].append(m["insp_at"][keep])
            cols["id"].append(m["insp_id"][keep])
            for name, column in (("verdict", "insp_verdict"), ("label", "insp_label"),
                                 ("review", "insp_review")):
                cols[name].append(ids[m[column][keep]])
        return {k: np.concatenate(v) if v else np.zeros(0, np.int64) for k, v in cols.items()}

    def _parts(self, rows: dict[str, np.ndarray], defect_class: str | None,
               count_review: bool) -> None:
        """One part per serial: its latest inspection (time, then id) says whether it is
        defective, its first one where it stands in line."""
        known = np.concatenate([rows["label"], rows["review"]])
        self.labels = frozenset(self._strings.names[i] for i in np.unique(known[known >= 0]))
        order = np.lexsort((rows["id"], rows["at"], rows["hash"]))
        h = rows["hash"][order]
        starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]]) if h.size else np.zeros(0, int)
        ends = np.r_[starts[1:], h.size][:starts.size] - 1
        self._check_hashes(rows, order, starts, ends)
        latest, first = order[ends], order[starts]
        bad = [self._strings.id(v) for v in (Verdict.NG.value, Verdict.REVIEW.value)]
        defect = np.isin(rows["verdict"][latest], bad if count_review else bad[:1])
        if defect_class is not None:
            label = np.where(rows["review"][latest] >= 0, rows["review"][latest],
                             rows["label"][latest])
            wanted = self._strings.id(defect_class)  # -1: no part carries it (refused later)
            defect &= (label == wanted) & (wanted >= 0)
        self.defect = defect
        self.hashes = h[starts]                       # sorted: a part is found by its hash
        self.block = rows["block"][latest]
        self.local = rows["serial"][latest]
        self.line = np.lexsort((rows["id"][first], rows["at"][first]))  # parts in line order
        by_block = np.argsort(self.block, kind="stable")
        bounds = np.searchsorted(self.block[by_block], np.arange(len(self._blocks) + 1))
        self._mine = np.split(by_block, bounds[1:-1]) if self._blocks else []  # per block

    def _check_hashes(self, rows: dict[str, np.ndarray], order: np.ndarray,
                      starts: np.ndarray, ends: np.ndarray) -> None:
        """Serials matched by hash are the same serial (64 bits: the odds of a collision in a
        window of a million serials are about 3 in 10^8; one is refused, never merged)."""
        size = ends - starts + 1
        if not (size > 1).any():
            return
        group = np.repeat(np.arange(starts.size), size)          # per sorted row
        again = order[np.repeat(size > 1, size)]                  # rows of serials seen twice
        first = order[starts][group[np.repeat(size > 1, size)]]   # their group's first row
        names = self._serial_strings(rows, again)
        differ = names != self._serial_strings(rows, first)
        if differ.any():
            clash = sorted(set(names[differ].tolist()))
            raise StoreError(f"serials {clash[:3]} share a 64-bit hash with another serial: "
                             "root cause cannot tell their parts apart in this window")

    def _serial_strings(self, rows: dict[str, np.ndarray], which: np.ndarray) -> np.ndarray:
        out = np.empty(which.size, dtype=object)
        for b in np.unique(rows["block"][which]):
            at = np.flatnonzero(rows["block"][which] == b)
            out[at] = self._blocks[b].serials(rows["serial"][which[at]])
        return out

    def _features(self) -> None:
        """Each part's machine set per step and value per parameter, from its latest block:
        (part, value) arrays per step and per parameter (window string ids)."""
        found: dict[str, dict[int, list[tuple[np.ndarray, np.ndarray]]]] = {
            "step": {}, "num": {}, "txt": {}}
        for block, ids, mine in zip(self._blocks, self._maps, self._mine, strict=True):
            if not mine.size:
                continue
            part_of = np.full(block.serial_count, -1, dtype=np.int32)
            part_of[self.local[mine]] = mine
            for prefix, into in found.items():
                serial, value = block.main[f"{prefix}_serial"], block.main[f"{prefix}_value"]
                for name, rows in block.groups(prefix):
                    part = part_of[serial[rows]]
                    keep = part >= 0
                    got = value[rows][keep]
                    into.setdefault(int(ids[name]), []).append(
                        (part[keep], got if prefix == "num" else ids[got]))
        self._steps, self._numbers, self._texts = (
            {k: _pair(v) for k, v in found[p].items()} for p in ("step", "num", "txt"))
        for block in self._blocks:  # what is left to read of them: serials, for sequences
            block.keep_serials_only()

    @property
    def parts(self) -> int:
        return int(self.defect.size)

    def counts(self) -> WindowCounts:
        """Parts, defects and the histograms root cause tests."""
        weights = self.defect.astype(np.float64)
        counts = WindowCounts(self.parts, int(self.defect.sum()), self.labels)
        names = self._strings.names
        for step in sorted(self._steps, key=lambda i: names[i]):
            part, mset = self._steps[step]
            counts.steps[names[step]] = (int(part.size), int(self.defect[part].sum()))
            counts.machine_sets[names[step]] = self._text_histogram(mset, weights[part])
        for machine in sorted({m for step in counts.machine_sets
                               for m in counts.machine_names(step)}):
            counts.machines[machine] = self._machine(counts, machine)
        for key in sorted(self._numbers, key=lambda i: names[i]):
            part, num = self._numbers[key]
            counts.numbers[names[key]] = Histogram.of(num, np.ones(num.size), weights[part], numeric=True)
        for key in sorted(self._texts, key=lambda i: names[i]):
            part, txt = self._texts[key]
            counts.texts[names[key]] = self._text_histogram(txt, weights[part])
        return counts

    def _text_histogram(self, ids: np.ndarray, weights: np.ndarray) -> Histogram:
        found, inverse = np.unique(ids, return_inverse=True)
        return Histogram.of([self._strings.names[i] for i in found], np.bincount(inverse).tolist(),
                            np.bincount(inverse, weights=weights).astype(np.int64).tolist(),
                            numeric=False)

    def _machine(self, counts: WindowCounts, machine: str) -> MachineCounts:
        steps = counts.steps_of(machine)
        if len(steps) == 1:
            n, d = counts.machine_step(machine, steps[0])
            return MachineCounts(n, d, *counts.steps[steps[0]])
        # several steps: distinct parts over them
        part, mset = _pair([self._steps[self._strings.id(s)] for s in steps])
        sets = np.unique(mset)
        inside = sets[[machine in self._strings.names[i].split(MACHINE_SEP) for i in sets]]
        mine = np.unique(part[np.isin(mset, inside)])
        pool = np.unique(part)
        return MachineCounts(int(mine.size), int(self.defect[mine].sum()), int(pool.size),
                             int(self.defect[pool].sum()))

    def level_codes(self, features: Sequence[LevelFeature]
                    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Chunks of (level per part and feature, -1 where unknown; defect per part)."""
        # feature-major: a feature's codes of a chunk are one contiguous run (the crosstabs
        # read them a pair of features at a time)
        small = max((lf.size for lf in features), default=0) < 2 ** 15  # half the memory
        codes = np.full((len(features), self.parts), -1, dtype=np.int16 if small else np.int32)
        for f, lf in enumerate(features):
            part, level = self._levels(lf)
            codes[f, part] = level
        flags = self.defect.astype(np.int8)
        for lo in range(0, self.parts, CHUNK):
            yield codes[:, lo:lo + CHUNK].T, flags[lo:lo + CHUNK]

    def _levels(self, lf: LevelFeature) -> tuple[np.ndarray, np.ndarray]:
        """(part, level) of one feature's known values; unmapped values get -1."""
        key, none = self._strings.id(lf.key), (np.zeros(0, np.int64), np.zeros(0, np.int64))
        if lf.source in ("machines", "text"):
            part, ids = (self._steps if lf.source == "machines" else self._texts).get(key, none)
            return part, self._mapped(ids, lf.mapping)
        part, num = self._numbers.get(key, (none[0], np.zeros(0)))
        if lf.source == "number":  # the number of edges at or below the value
            return part, np.searchsorted(np.asarray(lf.edges, dtype=np.float64), num,
                                         side="right")
        distinct, inverse = np.unique(num, return_inverse=True)
        return part, np.array([lf.mapping.get(float(v), -1) for v in distinct],
                              dtype=np.int64)[inverse]

    def _mapped(self, ids: np.ndarray, mapping: dict) -> np.ndarray:
        """Levels of string ids by their text (-1: not in `mapping`)."""
        distinct, inverse = np.unique(ids, return_inverse=True)
        names = self._strings.names
        return np.array([mapping.get(names[i], -1) for i in distinct],
                        dtype=np.int64)[inverse]

    def sequence_rows(self) -> SequenceRows:
        """The window's parts in line order (first inspection), each event of them by time, and
        the setting values (text and whole numbers) of those events: what the change-point
        search orders per machine."""
        self._load_sequences(self._blocks)
        rank = np.empty(self.parts, dtype=np.int64)
        rank[self.line] = np.arange(self.parts)          # part -> line index
        serials = np.empty(self.parts, dtype=object)
        cols: dict[str, list[np.ndarray]] = {k: [] for k in (
            "part", "machine", "step", "id", "ts", "set_event", "set_key", "set_value")}
        for b, (block, mine) in enumerate(zip(self._blocks, self._mine, strict=True)):
            if not mine.size:
                continue
            serials[mine] = block.serials(self.local[mine])
            seq, names = block.sequence or {}, np.asarray(block.sequence_strings, dtype=object)
            part = np.searchsorted(self.hashes, seq["ev_hash"])
            part = np.minimum(part, max(self.parts - 1, 0))
            keep = (self.hashes[part] == seq["ev_hash"]) & (self.block[part] == b)
            cols["part"].append(rank[part[keep]])
            cols["machine"].append(names[seq["ev_machine"][keep]])
            cols["step"].append(names[seq["ev_step"][keep]])
            cols["id"].append(seq["ev_id"][keep])
            cols["ts"].append(seq["ev_ts"][keep])
            used = np.isin(seq["set_event"], seq["ev_id"][keep])
            cols["set_event"].append(seq["set_event"][used])
            cols["set_key"].append(names[seq["set_key"][used]])
            cols["set_value"].append(names[seq["set_value"][used]])
        c = {k: np.concatenate(v) if v else np.zeros(0, object) for k, v in cols.items()}
        by_time = np.lexsort((c["id"].astype(np.int64), c["ts"].astype(np.int64)))
        return SequenceRows(
            serials=serials[self.line].tolist(), defect=self.defect[self.line],
            part=c["part"].astype(np.int64)[by_time], machine=c["machine"][by_time],
            step=c["step"][by_time], event_id=c["id"].astype(np.int64)[by_time],
            setting_event=c["set_event"].astype(np.int64), setting_key=c["set_key"],
            setting_value=c["set_value"])


def _pair(chunks: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Chunks of (part, value) joined into one (part, value)."""
    if len(chunks) == 1:
        return chunks[0]
    return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])

