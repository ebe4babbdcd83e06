"""The running station: POST /trigger (PLC/MES), GET /station (live status), GET /station/frame."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Annotated

import cv2
from fastapi import APIRouter, Header, HTTPException, Request, Response

from inspector.api.auth import OperatorActor, ViewerActor
from inspector.api.deps import ControlDep
from inspector.api.station_schemas import StationStatusPublic, TriggerCreate, TriggerPublic
from inspector.control import StationControl
from inspector.errors import InspectorError

logger = logging.getLogger(__name__)

router = APIRouter(tags=["station"])
NO_STATION = {409: {"description": "No station runs in this process (`inspector serve`)."}}
FRAME_QUALITY = 80  # JPEG quality of the live frame: enough to see a part, small on the wire


def _station(control: StationControl | None) -> StationControl:
    if control is None:
        raise HTTPException(HTTPStatus.CONFLICT, "no station runs in this process: triggers, the "
                            "live frame and the live status need `inspector run`")
    return control


@router.post("/trigger", response_model=TriggerPublic, status_code=HTTPStatus.ACCEPTED,
             responses={**NO_STATION, 422: {"description": "Malformed trigger."}})
def trigger(
    body: TriggerCreate, control: ControlDep, actor: OperatorActor,
    idempotency_key: Annotated[str | None, Header(
        max_length=128, pattern=r"^[\x21-\x7e]+$",
        description="Same as part_ref: a retry with this key returns the same part.")] = None,
) -> TriggerPublic:
    """Announce a part: it gets exactly one row (a retry with the same part_ref returns it)."""
    station = _station(control)
    part_ref = body.part_ref or idempotency_key
    if body.part_ref and idempotency_key and body.part_ref != idempotency_key:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                            "part_ref and the Idempotency-Key header differ: send one of them")
    try:
        receipt = station.trigger(body.serial, part_ref, body.meta)
    except InspectorError as exc:
        raise HTTPException(HTTPStatus.CONFLICT, str(exc)) from exc
    if body.meta:
        logger.info("trigger %s by %s: %s", receipt.part_id, actor.name, body.meta)
    return TriggerPublic(part_id=receipt.part_id, part_ref=receipt.part_ref,
                         duplicate=receipt.duplicate)


@router.get("/station", response_model=StationStatusPublic, responses=NO_STATION)
def station_status(control: ControlDep, actor: ViewerActor) -> StationStatusPublic:
    """The running station's live figures: parts, verdicts, rates, latency, camera, alarms."""
    station = _station(control)
    try:
        version = station.active_model().version
    except InspectorError:
        version = None
    return StationStatusPublic(station_id=station.station_id, model_version=version,
                               status=station.status())


@router.get("/station/frame", responses={
    **NO_STATION, 200: {"content": {"image/jpeg": {}}, "description": "The newest frame."},
    404: {"description": "No frame captured yet."}}, response_class=Response)
def latest_frame(request: Request, control: ControlDep, actor: ViewerActor) -> Response:
    """The newest camera frame as JPEG (poll it for a live view; it never slows the station)."""
    frame = _station(control).latest_frame()
    if frame is None or frame.image.size == 0:
        raise HTTPException(HTTPStatus.NOT_FOUND, "no frame captured yet")
    return Response(_jpeg(request, frame), media_type="image/jpeg",
                    headers={"Cache-Control": "no-store", "X-Frame-Id": str(frame.frame_id)})


def _jpeg(request: Request, frame) -> bytes:
    """The frame as JPEG, encoded once however many viewers ask for it."""
    key = (frame.source_id, frame.frame_id)
    cached = getattr(request.app.state, "frame_jpeg", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    ok, data = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, FRAME_QUALITY])
    if not ok:
        raise HTTPException(HTTPStatus.INTERNAL_SERVER_ERROR, "cannot encode the frame")
    jpeg = data.tobytes()
    request.app.state.frame_jpeg = (key, jpeg)  # one tuple, swapped whole: safe across threads
    return jpeg
