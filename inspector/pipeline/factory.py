"""Build a Station's real collaborators (source, model, store, archive, outputs) from config."""

from __future__ import annotations

import logging
from functools import partial

from inspector.config import StationConfig
from inspector.model.base import Classifier
from inspector.outputs import build_outputs
from inspector.pipeline.serial_hook import build_serial_resolver
from inspector.pipeline.station import StationParts, data_paths
from inspector.pipeline.triggers import build_trigger
from inspector.storage.archive import ImageArchive
from inspector.storage.engine import parse_url
from inspector.storage.journal import Journal
from inspector.storage.store import InspectionStore

logger = logging.getLogger(__name__)

GB = 1024**3


def build_parts(cfg: StationConfig, classifier: Classifier | None = None) -> StationParts:
    """Everything the station needs; the store is opened later, by the store thread."""
    from inspector.capture import build_source
    from inspector.model.loader import load_classifier

    if classifier is None:
        classifier = load_classifier(
            cfg.model.bundle, backend=cfg.model.backend, max_batch=cfg.model.batch_max
        )
    parse_url(cfg.db_url())  # a malformed URL is a clear error now, not a journal forever
    journal_path, images_dir = data_paths(cfg.station.data_dir)
    images = cfg.storage.images
    return StationParts(
        source=build_source(cfg.source),
        classifier=classifier,
        journal=Journal(journal_path),
        store=None,
        # Opening may fail (PostgreSQL away): the store thread journals and retries.
        open_store=partial(InspectionStore.open, cfg.db_url()),
        owns_store=True,
        trigger=build_trigger(cfg.trigger),
        serials=build_serial_resolver(cfg.serial),
        archive=ImageArchive(
            images_dir,
            ok_sample_rate=images.ok_sample_rate,
            max_bytes=int(images.max_gb * GB),
            max_age_days=images.max_age_days,
        ),
        outputs=build_outputs(cfg.outputs),
    )
