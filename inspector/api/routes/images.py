"""GET /inspections/{part_id}/image and /heatmap: a part's archived files, by part id only."""

from __future__ import annotations

import logging
from http import HTTPStatus
from pathlib import Path, PurePosixPath, PureWindowsPath

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, Response

from inspector.api.deps import InspectionsDep, SettingsDep
from inspector.api.filters import PartId
from inspector.api.station_fetch import CentralSettings, fetch_image
from inspector.storage.fleet import FleetQueries

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/inspections", tags=["inspections"])

NOSNIFF = {"X-Content-Type-Options": "nosniff"}
MEDIA_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
_IMAGE_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "The archived file."},
    404: {"description": "No such part, no file archived for it, or no image archive here."},
    502: {"description": "Central service: the part's station failed or refused the request."},
    504: {"description": "Central service: the part's station did not answer in time."},
}


@router.get("/{part_id}/image", response_class=FileResponse, responses=_IMAGE_RESPONSES)
def get_image(part_id: PartId, inspections: InspectionsDep, settings: SettingsDep) -> Response:
    """The part's archived frame (JPEG), as the station saved it (on a central service: fetched
    through the part's station)."""
    return _serve(part_id, "image_path", inspections, settings)


@router.get("/{part_id}/heatmap", response_class=FileResponse, responses=_IMAGE_RESPONSES)
def get_heatmap(part_id: PartId, inspections: InspectionsDep, settings: SettingsDep) -> Response:
    """The part's heatmap overlay (JPEG; PNG before 2026-12-06), as the station saved it (on a
    central service: fetched through the part's station)."""
    return _serve(part_id, "heatmap_path", inspections, settings)


def _serve(part_id: str, column: str, inspections: InspectionsDep,
           settings: SettingsDep) -> Response:
    found = inspections.get(part_id)
    if found is None:
        raise HTTPException(HTTPStatus.NOT_FOUND, f"no inspection with part_id {part_id!r}")
    what = column.removesuffix("_path")
    stored = getattr(found, column)
    if stored is None:
        raise HTTPException(HTTPStatus.NOT_FOUND, f"no {what} archived for part {part_id!r}")
    root = settings.images_dir
    path = resolve_archived(Path(root), stored) if root is not None else None
    if path is None and settings.central is not None:
        # a central service keeps no images of its own (unless one was put in its archive):
        # the part's station has it
        return _through_station(found.station_id, part_id, what, inspections, settings.central)
    if root is None:
        raise HTTPException(HTTPStatus.NOT_FOUND, "this server has no image archive (images_dir)")
    if path is None:
        raise HTTPException(HTTPStatus.NOT_FOUND, f"the {what} of part {part_id!r} is not "
                            "in the archive (deleted by retention?)")
    media_type = MEDIA_TYPES[PurePosixPath(stored).suffix.lower()]  # checked by resolve_archived
    return FileResponse(path, media_type=media_type, headers=NOSNIFF)


def _through_station(station_id: str, part_id: str, what: str, inspections: InspectionsDep,
                     central: CentralSettings) -> Response:
    api_url = FleetQueries(inspections.engine).api_url(station_id)
    if api_url is None:
        raise HTTPException(HTTPStatus.NOT_FOUND, f"the {what} of part {part_id!r} is on station "
                            f"{station_id!r}, which has registered no API address "
                            "(storage.station_api_url in its station.yaml)")
    fetched = fetch_image(api_url, station_id, part_id, what, central)
    return Response(fetched.body, media_type=fetched.media_type, headers=NOSNIFF)


def resolve_archived(root: Path, stored: str) -> Path | None:
    """The file a stored relative path names under `root`, or None when it is missing, not an
    image, or would leave the archive (absolute, `..`, a drive, a link pointing outside)."""
    rel = PurePosixPath(stored)
    if (not stored or "\x00" in stored or "\\" in stored or rel.is_absolute()
            or PureWindowsPath(stored).drive or ".." in rel.parts):
        logger.warning("refused stored image path %r: not a plain path inside the archive", stored)
        return None
    if rel.suffix.lower() not in MEDIA_TYPES:
        return None
    try:
        base = root.resolve(strict=True)
        path = (base / rel).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a symlink loop
        return None
    if not path.is_relative_to(base):
        logger.warning("refused stored image path %r: it resolves outside %s", stored, base)
        return None
    return path if path.is_file() else None
