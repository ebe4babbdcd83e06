"""A daemon thread for long-running processes: one round of upkeep every so often until stopped."""

from __future__ import annotations

import logging
import threading

from inspector.errors import StoreError

logger = logging.getLogger(__name__)


class UpkeepThread:
    """Runs `_round` at start and then every `every_s` seconds; a failure is logged and the
    round retried next time. Subclasses say what a round does; `active` False starts nothing."""

    def __init__(self, name: str, every_s: float, active: bool = True) -> None:
        self._every_s = every_s
        self._active = active
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _round(self) -> None:
        raise NotImplementedError

    def start(self) -> UpkeepThread:
        if self._active:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def __enter__(self) -> UpkeepThread:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._round()
            except StoreError as exc:
                logger.warning("%s failed (retried in %.0f s): %s", self._thread.name,
                               self._every_s, exc)
            except Exception:  # a bug must not end the upkeep silently for the process's life
                logger.exception("%s failed (retried in %.0f s)", self._thread.name,
                                 self._every_s)
            if self._stop.wait(self._every_s):
                return
