"""PUT /inspections/{part_id}/image and /heatmap: a station uploads its part images to the central
service, which keeps them in its own archive under the path the part's row names."""

from __future__ import annotations

import contextlib
import os
from http import HTTPStatus
from pathlib import Path, PurePosixPath, PureWindowsPath

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from inspector.api.auth import OperatorActor
from inspector.api.deps import InspectionsDep, SettingsDep
from inspector.api.filters import PartId
from inspector.api.routes.images import MEDIA_TYPES
from inspector.api.upload_schemas import UploadPublic

router = APIRouter(prefix="/inspections", tags=["inspections"])

MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
_BODY = {"requestBody": {"required": True, "content": {
    media: {"schema": {"type": "string", "format": "binary"}} for media in MAGIC}}}
_RESPONSES: dict[int | str, dict[str, object]] = {
    404: {"description": "No such part here (not forwarded yet: try again later)."},
    409: {"description": "Not a central service, no image folder, or the part's row names no "
                         "such file (never: do not try again)."},
    422: {"description": "Not the file type the part's row names (JPEG; a heatmap archived "
                         "before 2026-12-06 PNG), or over the size cap."},
}


@router.put("/{part_id}/image", response_model=UploadPublic, openapi_extra=_BODY,
            responses=_RESPONSES)
async def put_image(part_id: PartId, request: Request, actor: OperatorActor,
                    inspections: InspectionsDep, settings: SettingsDep) -> UploadPublic:
    """Central service: store the part's archived frame (JPEG) that its station sends."""
    return await _store(part_id, "image_path", request, inspections, settings)


@router.put("/{part_id}/heatmap", response_model=UploadPublic, openapi_extra=_BODY,
            responses=_RESPONSES)
async def put_heatmap(part_id: PartId, request: Request, actor: OperatorActor,
                      inspections: InspectionsDep, settings: SettingsDep) -> UploadPublic:
    """Central service: store the part's heatmap overlay (JPEG; PNG before 2026-12-06) that its
    station sends."""
    return await _store(part_id, "heatmap_path", request, inspections, settings)


async def _store(part_id: str, column: str, request: Request, inspections: InspectionsDep,
                 settings: SettingsDep) -> UploadPublic:
    what = column.removesuffix("_path")
    if settings.central is None:
        raise HTTPException(HTTPStatus.CONFLICT, "only a central service takes image uploads "
                            "(a station's archive is written by the station itself)")
    if settings.images_dir is None:
        raise HTTPException(HTTPStatus.CONFLICT, "this central service has no image folder")
    body = await request.body()  # bounded by the BodyLimit middleware (413)
    if len(body) > settings.central.max_bytes:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                            f"{len(body)} bytes: over the {settings.central.max_bytes} byte cap")
    found = await run_in_threadpool(inspections.get, part_id)
    if found is None:
        raise HTTPException(HTTPStatus.NOT_FOUND, f"no inspection with part_id {part_id!r} "
                            "(not forwarded yet?)")
    stored = getattr(found, column)
    if stored is None:
        raise HTTPException(HTTPStatus.CONFLICT, f"the row of part {part_id!r} names no {what}")
    target = archive_target(Path(settings.images_dir), stored)
    if target is None:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                            f"the row's {what} path {stored!r} is not a plain path in an archive")
    media_type = MEDIA_TYPES[PurePosixPath(stored).suffix.lower()]
    if not body.startswith(MAGIC[media_type]):
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                            f"the body is not a {media_type} file (the row names {stored!r})")
    written = await run_in_threadpool(_write, target, body)
    return UploadPublic(part_id=part_id, what=what, bytes=len(body), path=stored,
                        written=written)


def archive_target(root: Path, stored: str) -> Path | None:
    """Where a row's relative image path lands under `root`; None for a path that is absolute,
    has `..`, a drive or a backslash, is no image, or leaves `root` through a link."""
    rel = PurePosixPath(stored)
    if (not stored or "\x00" in stored or "\\" in stored or rel.is_absolute()
            or PureWindowsPath(stored).drive or ".." in rel.parts
            or rel.suffix.lower() not in MEDIA_TYPES):
        return None
    base = root.resolve()
    target = (base / rel).resolve()
    return target if target.is_relative_to(base) and target != base else None


def _write(target: Path, body: bytes) -> bool:
    """Write via a temporary name (a crash never leaves half a file); False when the same bytes
    are there already (a repeated upload changes nothing)."""
    with contextlib.suppress(OSError):
        if target.stat().st_size == len(body) and target.read_bytes() == body:
            return False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.upload")
    try:
        tmp.write_bytes(body)
        os.replace(tmp, target)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    return True
