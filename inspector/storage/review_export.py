"""Reviewed images out of the archive as `<class>/<image>`: a folder or a streamed zip."""

from __future__ import annotations

import json
import logging
import re
import shutil
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from inspector.storage.review import ReviewedImage

logger = logging.getLogger(__name__)

MANIFEST = "export.json"   # beside the class folders; dataset scanners read folders only
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}
_SAFE_CLASS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,63}$")
CHUNK = 1 << 16


@dataclass(frozen=True)
class ExportEntry:
    """One file to write: where it goes in the export and where it lies in the archive."""

    arcname: str      # <class>/<image file>
    source: Path
    label: str


@dataclass
class ExportPlan:
    """The files to export and the parts skipped, by reason."""

    entries: list[ExportEntry] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def classes(self) -> dict[str, int]:
        return dict(sorted(Counter(e.label for e in self.entries).items()))

    def summary(self, written: int | None = None) -> dict[str, object]:
        """Counts for the manifest and the caller; `written`: files actually written."""
        written = len(self.entries) if written is None else written
        return {"written": written, "skipped": sum(self.skipped.values()),
                "skipped_by_reason": dict(sorted(self.skipped.items())), "classes": self.classes}


def plan_export(reviewed: Iterable[ReviewedImage], root: Path) -> ExportPlan:
    """Which reviewed parts have an image under `root`; the others are counted, not exported."""
    plan, used = ExportPlan(), set()
    for part in reviewed:
        if not _SAFE_CLASS.match(part.label) or part.label in {".", ".."}:
            plan.skipped["label not usable as a folder name"] += 1
        elif part.image_path is None:
            plan.skipped["no archived image"] += 1
        elif (source := resolve_in_archive(root, part.image_path)) is None:
            plan.skipped["image missing from the archive"] += 1
        else:
            name = source.name
            if f"{part.label}/{name}" in used:
                name = f"{part.part_id}-{name}"
            used.add(f"{part.label}/{name}")
            plan.entries.append(ExportEntry(f"{part.label}/{name}", source, part.label))
    return plan


def resolve_in_archive(root: Path, stored: str) -> Path | None:
    """The image file a stored relative path names under `root`; None when missing, not an image,
    or outside the archive (absolute, `..`, a drive, a link pointing out)."""
    rel = PurePosixPath(stored)
    if (not stored or "\x00" in stored or "\\" in stored or rel.is_absolute()
            or PureWindowsPath(stored).drive or ".." in rel.parts
            or rel.suffix.lower() not in IMAGE_SUFFIXES):
        return None
    try:
        base = root.resolve(strict=True)
        path = (base / rel).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return path if path.is_relative_to(base) and path.is_file() else None


def write_folder(plan: ExportPlan, out: Path) -> dict[str, object]:
    """Copy the planned files into `out/<class>/<image>` and write the manifest; the summary."""
    written = 0
    for entry in plan.entries:
        target = out / entry.arcname
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(entry.source, target)
            written += 1
        except FileNotFoundError:  # deleted by retention since the plan
            _vanished(plan, entry)
    summary = plan.summary(written)
    (out / MANIFEST).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _vanished(plan: ExportPlan, entry: ExportEntry) -> None:
    plan.skipped["image missing from the archive"] += 1
    logger.warning("%s vanished from the archive before export", entry.source)


class _Sink:
    """A write-only byte buffer the zip writer fills and the response drains (not seekable)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


def stream_zip(plan: ExportPlan) -> Iterator[bytes]:
    """The export as a zip, yielded in pieces while it is written (stored: images are compressed)."""
    sink = _Sink()
    written = 0
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as zf:  # type: ignore[arg-type]
        for entry in plan.entries:
            try:
                with open(entry.source, "rb") as src, zf.open(entry.arcname, "w") as dst:
                    while chunk := src.read(CHUNK):
                        dst.write(chunk)
                        yield sink.drain()
                written += 1
            except FileNotFoundError:  # deleted by retention since the plan
                _vanished(plan, entry)
        zf.writestr(MANIFEST, json.dumps(plan.summary(written), indent=2) + "\n")
    yield sink.drain()
