"""Root-cause hour blocks: one station's parts of one hour and their process data, as numpy columns."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from inspector.storage.window_counts import MACHINE_SEP

# Bumped whenever the columns change: a cached block of another format is built again.
FORMAT = 2
MAGIC = b"RCB2"

# Main columns: the hour's status-ok inspections; the distinct serials they carry; per step
# the machine set of each serial (rows grouped by step: `step_names`, `step_ends`); per
# parameter the value of each serial's latest pass (ts, then event id), numbers and text apart
# (grouped by parameter the same way). Strings are indexes into the block's string table.
# Sequence columns (the change-point search's, read only for windows it searches): every event
# of those serials and their settings, self-contained (own strings, serials by hash), so a
# newer block's can stand in.

InspectionRow = tuple[int, str, int, str, str | None, str | None]   # id serial at_us verdict ...
EventRow = tuple[str, int, int, str, str]                            # serial id ts_us machine step
ValueRow = tuple[str, int, str, str, float | None, str | None]       # serial event key kind num txt
Columns = dict[str, np.ndarray]


@dataclass
class HourBlock:
    """Columns of one (station, hour); string columns hold indexes into `strings` (-1: none)."""

    main: Columns
    sequence: Columns | None = None           # events name their serial by its hash
    key: tuple[str, str, int] = ("", "", 0)   # station, hour, version built at

    def __post_init__(self) -> None:
        self.strings = _decode(self.main["string_blob"], self.main["string_ends"])

    @property
    def sequence_strings(self) -> list[str]:
        if self.sequence is None:
            raise ValueError("this block was read without its sequence columns")
        return _decode(self.sequence["string_blob"], self.sequence["string_ends"])

    @property
    def serial_count(self) -> int:
        return int(self.main["serial_hash"].size)

    def serials(self, which: np.ndarray) -> list[str]:
        """The serial strings of the local indexes `which`."""
        blob, ends = self.main["serial_blob"], self.main["serial_ends"]
        starts = np.concatenate([[0], ends[:-1]])
        raw = blob.tobytes()
        return [raw[starts[i]:ends[i]].decode() for i in which.tolist()]

    def keep_serials_only(self) -> None:
        """Let go of every main column but the serials (a copy: the stored buffer is freed)."""
        self.main = {k: self.main[k].copy() for k in ("serial_hash", "serial_blob", "serial_ends")}

    def groups(self, prefix: str) -> Iterable[tuple[int, slice]]:
        """(string index of the step or parameter, its rows) of `step`, `num` or `txt` rows."""
        ends = self.main[f"{prefix}_ends"].tolist()
        starts = [0, *ends[:-1]][:len(ends)]
        return zip(self.main[f"{prefix}_names"].tolist(),
                   (slice(a, b) for a, b in zip(starts, ends, strict=True)), strict=True)


def serial_hash(serials: Sequence[str]) -> np.ndarray:
    """A stable 64-bit hash per serial: parts are matched across blocks by it (collisions are
    checked on the serial strings)."""
    return np.array([int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little")
                     for s in serials], dtype=np.uint64)


class Interner:
    """Strings numbered in the order first seen (None: -1)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.names: list[str] = []

    def __call__(self, value: str | None) -> int:
        if value is None:
            return -1
        found = self.index.get(value)
        if found is None:
            found = self.index[value] = len(self.names)
            self.names.append(value)
        return found


Latest = dict[tuple[int, int], tuple[tuple[int, int], float | None, str | None]]


def _values_read(values: Iterable[ValueRow], ts_of: dict[int, tuple[int, int]],
                 serial_of: dict[str, int], strings: Interner, names: Interner,
                 ) -> tuple[Latest, list[tuple[int, int, int]]]:
    """Each (parameter, serial)'s latest value (by its event's time), and every integer or text
    value as a setting of its event (the sequence's columns)."""
    latest: Latest = {}
    settings = []
    for serial, event_id, key, kind, num, txt in values:
        when = ts_of.get(event_id)
        if when is None or serial not in serial_of:
            continue
        k = (strings(key), serial_of[serial])
        if k not in latest or when > latest[k][0]:
            latest[k] = (when, num, txt)
        if kind == "integer" and num is not None:
            settings.append((event_id, names(key), names(str(int(num)))))
        elif kind == "text" and txt is not None:
            settings.append((event_id, names(key), names(txt)))
    return latest, settings


def build_block(inspections: Sequence[InspectionRow], events: Iterable[EventRow],
                values: Iterable[ValueRow]) -> HourBlock:
    """A block from the rows of one station-hour: its inspections, and the events and typed
    values of every serial among them."""
    strings, names = Interner(), Interner()  # main's strings; the sequence's
    serial_of: dict[str, int] = {}
    for row in inspections:
        serial_of.setdefault(row[1], len(serial_of))
    # the three reads of a build are separate statements: a part inspected between them has
    # events but no inspection here (its insert bumped the hour: this block is stale anyway)
    ev = sorted((e for e in events if e[0] in serial_of), key=lambda e: (e[2], e[1]))
    ts_of = {e[1]: (e[2], e[1]) for e in ev}
    machines: dict[tuple[int, int], set[str]] = {}
    for serial, _, _, machine, step in ev:
        machines.setdefault((strings(step), serial_of[serial]), set()).add(machine)
    latest, settings = _values_read(values, ts_of, serial_of, strings, names)
    serials = list(serial_of)
    hashes = serial_hash(serials)
    main = {
        **_columns(("insp_id", "insp_at", "insp_serial", "insp_verdict", "insp_label",
                    "insp_review"),
                   [(r[0], r[2], serial_of[r[1]], strings(r[3]), strings(r[4]), strings(r[5]))
                    for r in inspections],
                   (np.int64, np.int64, np.int32, np.int32, np.int32, np.int32)),
        "serial_hash": hashes,
        **_grouped("step", [(g, s, strings(MACHINE_SEP.join(sorted(found))))
                            for (g, s), found in machines.items()], np.int32),
        **_grouped("num", [(g, s, num) for (g, s), (_, num, _) in latest.items()
                           if num is not None], np.float64),
        **_grouped("txt", [(g, s, strings(txt)) for (g, s), (_, num, txt) in latest.items()
                           if num is None and txt is not None], np.int32),
    }
    main["serial_blob"], main["serial_ends"] = _encode(serials)
    main["string_blob"], main["string_ends"] = _encode(strings.names)
    sequence = {
        **_columns(("ev_hash", "ev_id", "ev_ts", "ev_machine", "ev_step"),
                   [(hashes[serial_of[s]], i, t, names(m), names(st)) for s, i, t, m, st in ev],
                   (np.uint64, np.int64, np.int64, np.int32, np.int32)),
        **_columns(("set_event", "set_key", "set_value"), settings,
                   (np.int64, np.int32, np.int32)),
    }
    sequence["string_blob"], sequence["string_ends"] = _encode(names.names)
    return HourBlock(main, sequence)


def _columns(names: Sequence[str], rows: Sequence[tuple], kinds: Sequence[type]) -> Columns:
    return {name: np.array([r[i] for r in rows], dtype=kind)
            for i, (name, kind) in enumerate(zip(names, kinds, strict=True))}


def _grouped(prefix: str, rows: list[tuple[int, int, object]], kind: type) -> Columns:
    """(group, serial, value) rows sorted by group: the groups' names and where each ends."""
    rows.sort(key=lambda r: (r[0], r[1]))
    group = np.array([r[0] for r in rows], dtype=np.int32)
    found, starts = np.unique(group, return_index=True)
    return {f"{prefix}_names": found.astype(np.int32),
            f"{prefix}_ends": np.r_[starts[1:], group.size][:found.size].astype(np.int64),
            f"{prefix}_serial": np.array([r[1] for r in rows], dtype=np.int32),
            f"{prefix}_value": np.array([r[2] for r in rows], dtype=kind)}


def _encode(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    raw = [s.encode() for s in strings]
    blob = np.frombuffer(b"".join(raw), dtype=np.uint8)
    return blob, np.cumsum([len(r) for r in raw], dtype=np.int64)


def _decode(blob: np.ndarray, ends: np.ndarray) -> list[str]:
    raw = blob.tobytes()
    out, start = [], 0
    for end in ends.tolist():
        out.append(raw[start:end].decode())
        start = end
    return out


def to_bytes(columns: Columns) -> bytes:
    """Columns as one buffer: a JSON header (name, dtype, length of each) and the raw arrays,
    each at an offset that is a multiple of 8."""
    header = json.dumps([[k, v.dtype.str, int(v.size)] for k, v in columns.items()]).encode()
    parts, offset = [MAGIC, struct.pack("<I", len(header)), header], 8 + len(header)
    for array in columns.values():
        pad = -offset % 8
        parts.append(b"\0" * pad)
        data = np.ascontiguousarray(array).tobytes()
        parts.append(data)
        offset += pad + len(data)
    return b"".join(parts)


def from_bytes(data: bytes) -> Columns:
    """Columns read back as views of `data` (no copy, nothing but plain arrays is decoded)."""
    if data[:4] != MAGIC:
        raise ValueError("not a root-cause block of this format")
    size = struct.unpack("<I", data[4:8])[0]
    offset, out = 8 + size, {}
    for name, dtype, length in json.loads(data[8:8 + size]):
        offset += -offset % 8
        kind = np.dtype(dtype)
        if kind.hasobject:
            raise ValueError(f"column {name}: object arrays are never stored")
        out[name] = np.frombuffer(data, dtype=kind, count=length, offset=offset)
        offset += kind.itemsize * length
    return out
