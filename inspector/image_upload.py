"""ImageUploader: a station sends its archived part images to the central service (PUT), in row
order after a delivery cursor kept in its own database, so a restart resumes where it stopped."""

from __future__ import annotations

import logging
import random
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlsplit

from inspector.domain import Inspection
from inspector.errors import ConfigError
from inspector.storage.delivery import DeliveryStore
from inspector.storage.review_export import resolve_in_archive

logger = logging.getLogger(__name__)

OUTPUT = "central-images"                 # the delivery cursor's name in delivery_cursors
CENTRAL_KEY_ENV = "INSPECTOR_CENTRAL_API_KEY"
MEDIA_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
FILES = (("image", "image_path"), ("heatmap", "heatmap_path"))


class Unavailable(Exception):
    """The central service cannot take uploads now (away, failing, refusing the key): retry."""


@dataclass(frozen=True)
class UploadSettings:
    station_id: str
    central_api: str                                  # e.g. http://central.plant:8000
    images_dir: Path                                  # the station's archive (<data_dir>/images)
    api_key: str | None = field(default=None, repr=False)  # an operator key of the central service
    batch_rows: int = 100
    timeout_s: float = 10.0
    poll_s: float = 2.0
    backoff_max_s: float = 30.0

    def __post_init__(self) -> None:
        if urlsplit(self.central_api).scheme not in ("http", "https"):
            raise ConfigError(f"central API {self.central_api!r}: give an http(s) URL, e.g. "
                              "http://central.plant:8000")


@dataclass
class UploadStats:
    files: int = 0          # files the central side stored (or already had)
    missing: int = 0        # named by a row but gone from the archive (retention) or refused
    rows: int = 0           # rows passed (the cursor moved over them)
    errors: int = 0
    waiting_for: str | None = None  # a part the central side does not have yet
    last_error: str | None = None


class ImageUploader:
    """Uploads each row's image and heatmap once, oldest row first. A part the central database
    does not hold yet (the forwarder is behind) stops the pass there until a later one."""

    def __init__(self, store: DeliveryStore, settings: UploadSettings) -> None:
        self.store, self.settings = store, settings
        self.stats = UploadStats()
        self._stop = threading.Event()
        self._rng = random.Random()

    def request_stop(self) -> None:
        self._stop.set()

    def run(self, until_empty: bool = False) -> None:
        """Upload until request_stop() (or, with until_empty, until nothing is left or the next
        part is not at the central side yet); back off while the central service is away."""
        failures = 0
        while not self._stop.is_set():
            try:
                moved = self.step()
            except Unavailable as exc:
                failures += 1
                self.stats.errors += 1
                self.stats.last_error = str(exc)
                delay = min(self.settings.backoff_max_s, 0.5 * 2 ** min(failures, 10))
                delay *= 0.5 + self._rng.random() / 2  # jitter: stations do not retry in step
                (logger.warning if failures == 1 else logger.debug)(
                    "image upload to %s failed (next try in %.1f s): %s",
                    self.settings.central_api, delay, exc)
                self._stop.wait(delay)
                continue
            failures = 0
            if moved and self.stats.waiting_for is None:
                continue
            if until_empty:
                return
            self._stop.wait(self.settings.poll_s)

    def step(self) -> int:
        """One batch of rows after the cursor; returns how many rows the cursor moved over."""
        s = self.settings
        cursor = self.store.cursor(s.station_id, OUTPUT) or 0
        self.stats.waiting_for = None
        moved = 0
        try:
            for row_id, row in self.store.rows_after(s.station_id, cursor, s.batch_rows):
                if not self._row(row):
                    self.stats.waiting_for = row.part_id
                    break
                cursor, moved = row_id, moved + 1
        finally:
            if moved:
                self.store.save_cursor(s.station_id, OUTPUT, cursor)
                self.stats.rows += moved
        return moved

    def _row(self, row: Inspection) -> bool:
        """Upload the row's files; False when the central side does not know the part yet."""
        for what, column in FILES:
            stored = getattr(row, column)
            if stored is None:
                continue
            path = resolve_in_archive(self.settings.images_dir, stored)
            if path is None:  # deleted by retention since: nothing left to send
                self.stats.missing += 1
                continue
            status = self._put(row.part_id, what, path)
            if status == 404:
                return False
            if status in (409, 422):  # the central side will not take this file: never will
                logger.warning("central service refused the %s of part %s (%d)", what,
                               row.part_id, status)
                self.stats.missing += 1
            else:
                self.stats.files += 1
        return True

    def _put(self, part_id: str, what: str, path: Path) -> int:
        s = self.settings
        url = f"{s.central_api.rstrip('/')}/api/v1/inspections/{quote(part_id, safe='')}/{what}"
        body = path.read_bytes()
        headers = {"Content-Type": MEDIA_TYPES[PurePosixPath(path.name).suffix.lower()]}
        if s.api_key:
            headers["X-API-Key"] = s.api_key
        request = urllib.request.Request(url, data=body, method="PUT", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=s.timeout_s) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 409, 422):
                return exc.code
            if exc.code in (401, 403):
                raise Unavailable(f"{s.central_api} refused the key ({exc.code}): set "
                                  f"{CENTRAL_KEY_ENV} to an operator key of the central "
                                  "service") from exc
            raise Unavailable(f"{s.central_api} answered {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise Unavailable(f"{s.central_api} cannot be reached: "
                              f"{getattr(exc, 'reason', exc)}") from exc
