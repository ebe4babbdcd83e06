"""Browser fixtures: Debian's chromium driven by playwright, the app served by uvicorn in a thread.

Never `playwright install` (it downloads browsers): the tests use the system chromium by its
path and are skipped, with the reason, when it or the playwright package is absent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from inspector.commands.api_server import station_api
from inspector.commands.demo import demo_config
from inspector.pipeline.station import Station, data_paths
from inspector.storage.store import InspectionStore
from tests.api.conftest import new_key
from tests.dashboard.history import History, write_history
from tests.pipeline.fakes import FakeClassifier

BUNDLE = Path(__file__).resolve().parents[2] / "weights" / "magnetic-tile"
VIEWPORT = {"width": 1280, "height": 800}   # the line's touch screen
DOCS_SHOTS = "INSPECTOR_DOCS_SCREENSHOTS"   # set to a folder: small copies of the screenshots go there


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); never `playwright install`")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e '.[dev]')")
    return path


@pytest.fixture(scope="session")
def browser():
    path = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


@dataclass
class Tab:
    """A page with the key set in its session and every console error and page error kept."""

    page: object
    base: str
    shots: Path
    errors: list[str] = field(default_factory=list)

    def open(self, path: str):
        self.page.goto(self.base + path)
        return self.page

    def shot(self, name: str) -> Path:
        target = self.shots / f"{name}.png"
        self.page.screenshot(path=str(target))
        if os.environ.get(DOCS_SHOTS):
            _small_copy(target, Path(os.environ[DOCS_SHOTS]) / target.name)
        return target


def _small_copy(source: Path, target: Path) -> None:
    from PIL import Image

    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        image = image.convert("RGB").resize((960, 600), Image.LANCZOS)
        image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    """Where the screenshots of a run go (an artefact of the run: the pytest tmp dir)."""
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def tab(browser, shots):
    """tab(base, key): a fresh 1280x800 browser context whose session holds `key`."""
    contexts = []

    def make(base: str, key: str | None = None) -> Tab:
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        if key is not None:
            context.add_init_script(f"sessionStorage.setItem('inspector.key', {key!r});")
        page = context.new_page()
        page.set_default_timeout(15_000)
        t = Tab(page, base, shots)
        page.on("console", lambda m: m.type == "error" and t.errors.append(f"{m.text} {m.location}"))
        page.on("pageerror", lambda e: t.errors.append(f"page error: {e}"))
        return t

    yield make
    for context in contexts:
        context.close()


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    """The app on a free loopback port (uvicorn in a thread, as `inspector run` serves it)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, name="dashboard-test-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


@dataclass(frozen=True)
class Line:
    """A running simulated line with its API and dashboard, history rows and keys per role."""

    base: str
    store: InspectionStore
    history: History
    keys: dict[str, str]


@pytest.fixture(scope="module")
def line(tmp_path_factory) -> Iterator[Line]:
    """The demo's simulated line (fake classifier, 90 parts/min) with 240 earlier parts."""
    _chromium()
    data = tmp_path_factory.mktemp("line") / "data"
    cfg = demo_config(data, BUNDLE, parts_per_minute=90)
    cfg = cfg.model_copy(update={"api": cfg.api.model_copy(update={"port": 0, "open_reads": False})})
    store = InspectionStore.open(cfg.db_url())
    history = write_history(store, data_paths(data)[1], cfg.station.id)
    keys = {role: new_key(store, role, name=f"{role}-1") for role in ("viewer", "operator", "admin")}
    station = Station.from_config(cfg, FakeClassifier(), store=store)
    try:
        with station_api(cfg, station) as address:
            station.start()
            yield Line(address, store, history, keys)
            station.stop(30)
    finally:
        store.close()
