"""GET /audit: the append-only log of who changed what (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from inspector.api.auth import AdminActor
from inspector.api.deps import AuditDep
from inspector.api.filters import PRINTABLE, StationId, check_cursor
from inspector.api.schemas import AuditEntryPublic, AuditPublic
from inspector.storage.audit import MAX_AUDIT_PAGE, decode_audit_cursor

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=AuditPublic,
            responses={401: {"description": "No valid API key."},
                       403: {"description": "The key is not an admin key."}})
def list_audit(
    audit: AuditDep,
    actor: AdminActor,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_PAGE, description="Entries per page.")] = 100,
    cursor: Annotated[str | None, Query(
        max_length=64, description="`next_cursor` of the previous page (same filters).")] = None,
    action: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE,
                                        description="Only this action.")] = None,
    by: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE,
                                    description="Only this actor.")] = None,
    station_id: StationId = None,
) -> AuditPublic:
    """One page of the audit log, newest first."""
    check_cursor(cursor, decode_audit_cursor)
    entries, next_cursor = audit.list(limit=limit, cursor=cursor, action=action, actor=by,
                                     station_id=station_id)
    items = [AuditEntryPublic.model_validate(e, from_attributes=True) for e in entries]
    return AuditPublic(items=items, count=len(items), next_cursor=next_cursor)
