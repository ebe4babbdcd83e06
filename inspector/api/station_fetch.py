"""Central service: a part's image fetched through its station's API (short timeout, size cap)."""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import HTTPException

logger = logging.getLogger(__name__)

STATION_KEY_ENV = "INSPECTOR_STATION_API_KEY"  # the key the central side sends to the stations
MAX_IMAGE_BYTES = 20 * 1024 * 1024             # an archived JPEG or heatmap PNG is far smaller
CHUNK = 64 * 1024


@dataclass(frozen=True)
class CentralSettings:
    """How a central service reaches its stations for images (None in ApiSettings: a station).

    Keys come from the environment only: each station's database makes its own keys, so a
    station's key is `INSPECTOR_STATION_API_KEY_<ID>` (its id upper-cased, every other character
    than A-Z and 0-9 as `_`), else the shared `INSPECTOR_STATION_API_KEY`.
    """

    station_api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 5.0
    max_bytes: int = MAX_IMAGE_BYTES
    station_keys: Mapping[str, str] = field(default_factory=dict, repr=False)  # env name -> key

    def key_for(self, station_id: str) -> str | None:
        return self.station_keys.get(station_key_env(station_id)) or self.station_api_key

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], **options: Any) -> CentralSettings:
        keys = {name: value for name, value in environ.items()
                if name.startswith(STATION_KEY_ENV + "_") and value}
        return cls(station_api_key=environ.get(STATION_KEY_ENV) or None, station_keys=keys,
                   **options)


def station_key_env(station_id: str) -> str:
    """The environment variable holding the key of one station: INSPECTOR_STATION_API_KEY_<ID>."""
    return f"{STATION_KEY_ENV}_{re.sub(r'[^A-Z0-9]', '_', station_id.upper())}"


@dataclass(frozen=True)
class Fetched:
    body: bytes
    media_type: str


def fetch_image(api_url: str, station_id: str, part_id: str, what: str,
                central: CentralSettings) -> Fetched:
    """GET <api_url>/api/v1/inspections/<part_id>/<what> from the part's station.

    The station's own 404 passes through; a station that refuses the key, fails, answers
    something that is not an image or more than `max_bytes` is 502; one that does not answer
    within `timeout_s` is 504. Nothing beyond `max_bytes` + 1 bytes is ever read.
    """
    scheme = urlsplit(api_url).scheme
    if scheme not in ("http", "https"):
        raise HTTPException(HTTPStatus.BAD_GATEWAY, f"station {station_id!r} registered the "
                            f"API address {api_url!r}, which is not an http(s) URL")
    url = f"{api_url.rstrip('/')}/api/v1/inspections/{quote(part_id, safe='')}/{what}"
    headers = {"Accept": "image/jpeg, image/png"}
    key = central.key_for(station_id)
    if key:
        headers["X-API-Key"] = key
    request = urllib.request.Request(url, headers=headers)
    where = f"station {station_id!r} at {api_url}"
    try:
        with urllib.request.urlopen(request, timeout=central.timeout_s) as response:
            media_type = response.headers.get_content_type()
            if media_type not in ("image/jpeg", "image/png"):
                raise HTTPException(HTTPStatus.BAD_GATEWAY,
                                    f"{where} answered {media_type}, not an image")
            body = _read_capped(response, central, where)
    except urllib.error.HTTPError as exc:
        raise _station_error(exc, station_id, where, part_id, what) from exc
    except TimeoutError as exc:
        raise HTTPException(HTTPStatus.GATEWAY_TIMEOUT, f"{where} did not answer within "
                            f"{central.timeout_s:g} s (the image stays on the station)") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise HTTPException(HTTPStatus.GATEWAY_TIMEOUT, f"{where} did not answer within "
                                f"{central.timeout_s:g} s (the image stays on the station)") from exc
        raise HTTPException(HTTPStatus.BAD_GATEWAY,
                            f"{where} cannot be reached: {exc.reason}") from exc
    except OSError as exc:  # reset mid-answer, refused after connect
        raise HTTPException(HTTPStatus.BAD_GATEWAY, f"{where} failed: {exc}") from exc
    return Fetched(body, media_type)


def _read_capped(response: object, central: CentralSettings, where: str) -> bytes:
    """At most `max_bytes`, read in chunks within twice the timeout in all (the socket timeout
    bounds each read only, so a station dripping bytes is cut too); a longer answer is refused,
    not truncated."""
    limit, deadline = central.max_bytes, time.monotonic() + 2 * central.timeout_s
    length = response.headers.get("Content-Length")  # type: ignore[attr-defined]
    if length is not None and length.isdigit() and int(length) > limit:
        raise HTTPException(HTTPStatus.BAD_GATEWAY,
                            f"{where} sent {int(length)} bytes, over the {limit} byte limit")
    parts, size = [], 0
    while chunk := response.read(min(CHUNK, limit + 1 - size)):  # type: ignore[attr-defined]
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise HTTPException(HTTPStatus.BAD_GATEWAY,
                                f"{where} sent more than the {limit} byte limit")
        if time.monotonic() > deadline:
            raise HTTPException(HTTPStatus.GATEWAY_TIMEOUT,
                                f"{where} took over {2 * central.timeout_s:g} s to send the image")
    return b"".join(parts)


def _station_error(exc: urllib.error.HTTPError, station: str, where: str, part_id: str,
                   what: str) -> HTTPException:
    detail = _detail(exc)
    if exc.code == HTTPStatus.NOT_FOUND:
        return HTTPException(HTTPStatus.NOT_FOUND, f"{where}: {detail or f'no {what} of {part_id!r}'}")
    if exc.code in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
        return HTTPException(HTTPStatus.BAD_GATEWAY, f"{where} refused the central service's key "
                             f"({exc.code}): set {station_key_env(station)} (or {STATION_KEY_ENV}) "
                             "to a viewer key of that station")
    logger.warning("%s answered %d for the %s of %s: %s", where, exc.code, what, part_id, detail)
    return HTTPException(HTTPStatus.BAD_GATEWAY, f"{where} answered {exc.code}: {detail}")


def _detail(exc: urllib.error.HTTPError) -> str:
    """The station's ErrorPublic message, read within a small bound."""
    try:
        raw = exc.read(4096)
        message = json.loads(raw).get("detail")
        return str(message) if message else ""
    except (OSError, ValueError, AttributeError):
        return ""
