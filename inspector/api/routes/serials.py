"""GET /serials/{serial}: a part's genealogy (inspections and upstream events in time order)."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import APIRouter, HTTPException

from inspector.api.deps import EventsDep, InspectionsDep
from inspector.api.filters import StationId
from inspector.api.schemas import GenealogyPublic
from inspector.trace.genealogy import genealogy

router = APIRouter(prefix="/serials", tags=["serials"])


@router.get("/{serial}", response_model=GenealogyPublic,
            responses={404: {"description": "No inspection and no event has this serial."}})
def get_serial(serial: str, inspections: InspectionsDep, events: EventsDep,
               station_id: StationId = None) -> GenealogyPublic:
    """Everything known about one serial, oldest first. With `station_id`, only that station's
    inspections (the upstream events belong to no station and are all listed)."""
    found = genealogy(serial, inspections, events, station_id)
    if not found.found:
        raise HTTPException(HTTPStatus.NOT_FOUND,
                            f"serial {found.serial!r} is unknown (no inspection, no event)")
    data = found.to_dict()
    data["timeline"] = [
        {"at": e.at.isoformat(), "kind": e.kind, "what": e.what, "details": e.details}
        for e in found.timeline()
    ]
    return GenealogyPublic.model_validate(data)
