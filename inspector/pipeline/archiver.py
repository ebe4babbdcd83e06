"""Archive workers: save each part's image and heatmap, then pass the row on to the store."""

from __future__ import annotations

import logging
from dataclasses import replace

from inspector.domain import Inspection
from inspector.errors import StoreError
from inspector.pipeline.buffers import Closed, Ring
from inspector.pipeline.records import Outcome
from inspector.pipeline.workers import POLL_S, Countdown, Worker
from inspector.storage.archive import ImageArchive

logger = logging.getLogger(__name__)


class ArchiveWorker(Worker):
    """JPEG/PNG encoding is the costliest step after the model; several of these run in
    parallel (OpenCV releases the GIL while encoding) so storage never limits throughput.
    """

    def __init__(self, index: int, results: Ring[Outcome], rows: Ring[Inspection],
                 archive: ImageArchive | None, finished: Countdown) -> None:
        self.name = f"archive-{index}"
        super().__init__()
        self.results, self.rows, self.archive, self.finished = results, rows, archive, finished

    def run(self) -> None:
        try:
            while True:
                try:
                    outcome = self.results.get(POLL_S)
                except Closed:
                    break
                if outcome is not None:
                    self.rows.put(self._save(outcome))
        finally:
            self.finished.done()

    def _save(self, outcome: Outcome) -> Inspection:
        row = outcome.row
        if self.archive is None or outcome.image is None:
            return row
        try:
            saved = self.archive.save(
                row.part_id, outcome.image, row.verdict, outcome.heatmap,
                row.captured_at or row.inspected_at,
            )
        except StoreError as exc:  # a malformed image or heatmap: keep the row without it
            logger.warning("part %s: image not archived: %s", row.part_id, exc)
            return row
        if saved.image_path is None and saved.heatmap_path is None:
            return row
        return replace(row, image_path=saved.image_path, heatmap_path=saved.heatmap_path)
