"""The dashboard: server-rendered page shells (Jinja2) whose plain JS reads the /api/v1 routes.

No build step and no CDN: templates and static files are package data. The pages themselves
hold no data, so they need no key; every figure comes from the JSON API with the key the
person entered (kept in the browser session) or none under `api.open_reads`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).resolve().parent
STATIC_PREFIX = "/static"
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)

# path -> (template, nav title); the nav lists them in this order
PAGES = {
    "/": ("live.html", "Live"),
    "/review": ("review.html", "Review"),
    "/analytics": ("analytics.html", "Analytics"),
    "/models": ("models.html", "Models"),
    "/health": ("health.html", "Health"),
}
# in the nav of a central service only (its station selector too); the pages answer anywhere
CENTRAL_PAGES = {"/fleet": ("fleet.html", "Fleet")}
# a central service runs no station: its / opens the fleet instead of the live view
LIVE = "/"


def _is_central(request: Request) -> bool:
    return getattr(request.app.state.settings, "central", None) is not None


def _render(request: Request, template: str, **context: object) -> HTMLResponse:
    central = _is_central(request)
    pages = ({**CENTRAL_PAGES, **{p: v for p, v in PAGES.items() if p != LIVE}} if central
             else PAGES)
    nav = [(path, title) for path, (_, title) in pages.items()]
    return templates.TemplateResponse(request, template, {
        "nav": nav, "path": request.url.path, "static": STATIC_PREFIX, "central": central,
        **context})


def _page(template: str, path: str):
    def page(request: Request) -> Response:
        if path == LIVE and _is_central(request):
            return RedirectResponse("/fleet")
        return _render(request, template)
    return page


for _path, (_template, _title) in {**PAGES, **CENTRAL_PAGES}.items():
    router.add_api_route(_path, _page(_template, _path), methods=["GET"], response_class=HTMLResponse,
                         name=f"page_{_template.removesuffix('.html')}")


@router.get("/parts", response_class=HTMLResponse)
def parts_page(request: Request) -> HTMLResponse:
    """A filtered list of parts (the query string is passed to GET /api/v1/inspections)."""
    return _render(request, "parts.html")


@router.get("/parts/{part_id}", response_class=HTMLResponse)
def part_page(request: Request, part_id: str) -> HTMLResponse:
    return _render(request, "part.html", part_id=part_id)


@router.get("/serials/{serial}", response_class=HTMLResponse)
def serial_page(request: Request, serial: str) -> HTMLResponse:
    return _render(request, "serial.html", serial=serial)


def mount_dashboard(app: FastAPI) -> None:
    """Serve the pages at / and their static files under /static (the API stays under /api/v1)."""
    app.include_router(router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=str(HERE / "static")), name="static")
