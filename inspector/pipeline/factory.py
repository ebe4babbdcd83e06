"""Build a Station's real collaborators (source, model, store, archive, outputs) from config."""

from __future__ import annotations

import logging
from functools import partial

from inspector.capture.folder import FolderSource
from inspector.config import StationConfig
from inspector.lineio.registry import build_line_protocols
from inspector.model.base import Classifier
from inspector.outputs import build_outputs
from inspector.pipeline.serial_hook import build_serial_resolver
from inspector.pipeline.station import SIGNALS_FILE, StationParts, data_paths
from inspector.pipeline.triggers import build_trigger
from inspector.storage.archive import ImageArchive
from inspector.storage.engine import parse_url
from inspector.storage.journal import Journal
from inspector.storage.progress import SourceProgress
from inspector.storage.store import InspectionStore

logger = logging.getLogger(__name__)

GB = 1024**3


def build_parts(cfg: StationConfig, classifier: Classifier | None = None,
                store: InspectionStore | None = None) -> StationParts:
    """Everything the station needs; without `store`, the store thread opens it (and journals
    while it cannot)."""
    from inspector.capture import build_source
    from inspector.model.loader import load_classifier
    from inspector.pipeline.settings import session_threads

    if classifier is None:
        # batch_max counts parts; network inputs per model run are the session's (run_inputs:
        # one part's views together), as for a model swapped in later (controller).
        classifier = load_classifier(cfg.model.bundle, backend=cfg.model.backend,
                                     threads=session_threads(cfg.model.inference_threads))
    parse_url(cfg.db_url())  # a malformed URL is a clear error now, not a journal forever
    journal_path, images_dir = data_paths(cfg.station.data_dir)
    images = cfg.storage.images
    source = build_source(cfg.source)
    journal = Journal(journal_path)
    _resume(source, cfg, store, journal)
    return StationParts(
        source=source,
        classifier=classifier,
        journal=journal,
        store=store,
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
        outputs=build_outputs(cfg.outputs) + build_line_protocols(cfg),
    )


def _resume(source: object, cfg: StationConfig, store: InspectionStore | None,
            journal: Journal) -> None:
    """A folder run passes over the files this station recorded before: in the database, the
    journal or the signal journal (rows a crash left there are stored when the run starts)."""
    src = cfg.source
    if not isinstance(source, FolderSource) or not getattr(src, "resume", False) or src.loop:
        return
    station_id = cfg.station.id
    journals = [journal, Journal(journal.path.with_name(SIGNALS_FILE)),
                Journal(journal.path.with_name(SIGNALS_FILE + ".left"))]
    prefix = f"{source.source_id}/"
    done = {r.source_ref for j in journals for r in j.rows()
            if r.station_id == station_id and (r.source_ref or "").startswith(prefix)}
    if store is not None:
        done |= SourceProgress(store.engine).recorded_refs(station_id, source.source_id)
    else:
        logger.warning("database not open: resuming %s from the journal alone", source.source_id)
    source.done = frozenset(done)
