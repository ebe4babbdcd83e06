"""Review: the queue of parts to look at, recording a person's label, the reviewed images as a zip."""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse

from inspector.api.auth import OperatorActor
from inspector.api.deps import ControlDep, ReviewsDep, SettingsDep
from inspector.api.filters import PRINTABLE, PartId, StationId, check_cursor
from inspector.api.review_schemas import ReviewCreate, ReviewPublic, ReviewQueuePublic
from inspector.api.schemas import InspectionPublic
from inspector.bundles.manager import active_or_none
from inspector.control import StationControl
from inspector.storage.review import MAX_QUEUE_PAGE, Review, ReviewStore, decode_queue_cursor
from inspector.storage.review_export import plan_export, stream_zip

router = APIRouter(tags=["review"])

# The name these routes had before every route took `station_id`; kept so old clients still work.
LegacyStation = Annotated[str | None, Query(
    max_length=64, pattern=PRINTABLE, deprecated=True,
    description="Old name of `station_id` (the same filter).")]


@router.get("/review/queue", response_model=ReviewQueuePublic)
def review_queue(
    reviews: ReviewsDep,
    limit: Annotated[int, Query(ge=1, le=MAX_QUEUE_PAGE, description="Parts per page.")] = 50,
    cursor: Annotated[str | None, Query(
        max_length=128, description="`next_cursor` of the previous page (same filters).")] = None,
    station_id: StationId = None,
    station: LegacyStation = None,
) -> ReviewQueuePublic:
    """Unreviewed parts: REVIEW first, then NG, then the OK parts the archive kept a sample
    image of; oldest first within each."""
    check_cursor(cursor, decode_queue_cursor)
    parts, next_cursor = reviews.queue(limit=limit, cursor=cursor,
                                       station_id=_station(station_id, station))
    items = [InspectionPublic.of(p) for p in parts]
    return ReviewQueuePublic(items=items, count=len(items), next_cursor=next_cursor)


@router.post("/inspections/{part_id}/review", response_model=ReviewPublic,
             responses={404: {"description": "No such part."},
                        422: {"description": "A label that is no known class."}})
def review_part(part_id: PartId, body: ReviewCreate, actor: OperatorActor, reviews: ReviewsDep,
                control: ControlDep, settings: SettingsDep) -> ReviewPublic:
    """Record the part's true class (who and when too); the verdict the line was told stays."""
    _check_label(body.label, control, reviews)
    station_id = control.station_id if control is not None else settings.station_id
    changed = reviews.record(Review(part_id, body.label, body.note, actor.name, station_id))
    if changed is None:
        raise HTTPException(HTTPStatus.NOT_FOUND, f"no inspection with part_id {part_id!r}")
    after = changed[1]
    return ReviewPublic(part_id=part_id, verdict=after["verdict"], label=after["label"],
                        review_label=after["review_label"], reviewed_by=after["reviewed_by"],
                        reviewed_at=after["reviewed_at"], review_note=after["review_note"])


@router.get("/review/export", response_class=StreamingResponse,
            responses={200: {"content": {"application/zip": {}},
                             "description": "`<class>/<image>` per reviewed part, and export.json "
                             "with the counts (written, skipped by reason)."},
                       409: {"description": "This server has no image archive."}})
def export_reviewed(
    reviews: ReviewsDep, settings: SettingsDep,
    station_id: StationId = None,
    station: LegacyStation = None,
) -> StreamingResponse:
    """The reviewed images as a zip that `inspector train` reads once unpacked."""
    station_id = _station(station_id, station)
    root = getattr(settings, "images_dir", None)
    if root is None:
        raise HTTPException(HTTPStatus.CONFLICT, "this server has no image archive (images_dir)")
    plan = plan_export(reviews.reviewed(station_id=station_id), Path(root))
    headers = {"Content-Disposition": 'attachment; filename="reviewed.zip"',
               "X-Export-Written": str(len(plan.entries)),
               "X-Export-Skipped": str(sum(plan.skipped.values()))}
    return StreamingResponse(stream_zip(plan), media_type="application/zip", headers=headers)


def _check_label(label: str, control: StationControl | None, reviews: ReviewStore) -> None:
    """422 unless `label` is a class of the active model or one seen in stored rows."""
    active = active_or_none(control)
    classes = list(active.card.classes) if active is not None else []
    if label in classes or reviews.known_label(label):
        return
    known = sorted(set(classes) | set(reviews.labels()))
    listed = ", ".join(known) if known else "none yet (no active model, no labelled rows)"
    raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                        f"unknown class {label!r}: known classes are {listed}")


def _station(station_id: str | None, station: str | None) -> str | None:
    """The one station filter of `station_id` and its old name; 422 when they disagree."""
    if station_id is not None and station is not None and station_id != station:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                            f"station_id ({station_id!r}) and station ({station!r}) disagree: "
                            "give station_id only")
    return station_id if station_id is not None else station
