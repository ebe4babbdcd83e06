"""Activate a bundle of the models folder on the running station, or roll back to the one before."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from inspector.bundles.catalog import bundle_path, load_bundle
from inspector.bundles.history import Activation, ActivationHistory
from inspector.control import ActiveModel, StationControl
from inspector.errors import InspectorError, ModelError

logger = logging.getLogger(__name__)


class NothingToRollBack(InspectorError):
    """The activation history holds no bundle before the active one."""


@dataclass(frozen=True)
class Swap:
    """A model change on the station: what ran before, what runs now."""

    before: ActiveModel
    after: ActiveModel
    warning: str | None = None   # the swap happened but the history could not be saved


class ModelManager:
    """Swaps the station's model through StationControl and keeps the activation history.

    One swap at a time (a lock): two admins activating at once cannot interleave the history.
    """

    def __init__(self, models_dir: Path, control: StationControl) -> None:
        self.models_dir = Path(models_dir)
        self.control = control
        self.history = ActivationHistory(self.models_dir)
        self._lock = threading.Lock()

    def activate(self, name: str, actor: str) -> Swap:
        """Load bundle `name` (a folder directly in the models folder) into the station."""
        path = bundle_path(self.models_dir, name)
        info = load_bundle(self.models_dir, name)
        if info.error is not None:
            raise ModelError(info.error)
        with self._lock:
            before = self.control.active_model()
            after = self.control.activate_model(path)
            entries = self.history.entries()
            if not entries or not _same(entries[-1].path, before.bundle):
                entries.append(Activation.now(before.bundle, before.version, "station"))
            if not _same(after.bundle, before.bundle):
                entries.append(Activation.now(after.bundle, after.version, actor))
            return Swap(before, after, self._save(entries))

    def rollback(self, actor: str) -> Swap:
        """Activate the bundle active before the current one (as recorded, across restarts)."""
        with self._lock:
            before = self.control.active_model()
            entries = self.history.entries()
            while entries and _same(entries[-1].path, before.bundle):
                entries.pop()
            if not entries:
                raise NothingToRollBack("no earlier model in the activation history to roll back to")
            after = self.control.activate_model(Path(entries[-1].path))
            entries[-1] = Activation.now(after.bundle, after.version, actor)
            return Swap(before, after, self._save(entries))

    def _save(self, entries: list[Activation]) -> str | None:
        try:
            self.history.save(entries)
        except ModelError as exc:
            logger.error("%s; the swap itself happened", exc)
            return f"{exc}: a rollback will not know of this activation"
        return None


def active_or_none(control: StationControl | None) -> ActiveModel | None:
    """The station's active model; None without a station or while it has no model loaded."""
    if control is None:
        return None
    try:
        return control.active_model()
    except ModelError:
        return None


def _same(a: str | Path, b: str | Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()
