"""POST /events (bulk ingestion of upstream process events) and GET /events?serial=."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool

from inspector.api.deps import EventsDep
from inspector.api.filters import PRINTABLE
from inspector.api.schemas import EventPublic, EventsPublic, IngestPublic
from inspector.trace.ingest import EventIn, ingest_payload

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/events", tags=["events"])

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "oneOf": [
                {"type": "array", "items": EventIn.model_json_schema()},
                EventIn.model_json_schema(),
            ],
        }}},
    }
}


@router.post("", response_model=IngestPublic, openapi_extra=_BODY_DOC,
             responses={422: {"description": "The body is not JSON, not an array or object, "
                                        "or nested too deeply."}})
async def post_events(request: Request, events: EventsDep) -> IngestPublic:
    """Store a JSON array of events (or one event); idempotent on serial+machine+step+timestamp.

    Good events are stored even when others are rejected; each rejected event is reported by
    its index and never partly stored. 422: the body is not JSON or not an object/array;
    413: the body is larger than the limit.
    """
    # The body limit (413) is the BodyLimit middleware's, on every route alike.
    payload = _decode(await request.body())
    result = await run_in_threadpool(ingest_payload, events, payload)
    return IngestPublic.of(result)


@router.get("", response_model=EventsPublic)
def get_events(
    events: EventsDep,
    serial: Annotated[str, Query(min_length=1, max_length=128, pattern=PRINTABLE,
                                 description="Part serial.")],
) -> EventsPublic:
    """Every upstream event of one serial, oldest first (an unknown serial has none)."""
    items = [EventPublic.of(e) for e in events.for_serial(serial.strip())]
    return EventsPublic(serial=serial.strip(), count=len(items), items=items)


def _decode(body: bytes) -> Any:
    if not body.strip():
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                            "empty body: send a JSON array of events (or one event object)")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                            f"body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # the decoder's own depth guard, before the stack runs out
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                            "body is nested too deeply: an event is a flat object") from exc
    if not isinstance(payload, list | dict):
        raise HTTPException(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            f"body must be a JSON array of events or one event object, got "
            f"{type(payload).__name__}",
        )
    return payload
