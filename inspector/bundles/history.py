"""Activation history of a models folder, kept in `<models_dir>/.activations.json` (atomic writes)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from inspector.errors import ModelError

logger = logging.getLogger(__name__)

HISTORY_FILE = ".activations.json"
MAX_HISTORY = 100   # entries kept; older ones fall off the bottom of the stack


@dataclass(frozen=True)
class Activation:
    """One bundle the station was switched to (or started with), newest last in the history."""

    path: str             # the bundle folder, resolved
    version: str          # its card's version at the time
    at: str               # ISO 8601 UTC
    actor: str

    @classmethod
    def now(cls, path: Path, version: str, actor: str) -> Activation:
        return cls(str(Path(path).resolve()), version, datetime.now(UTC).isoformat(), actor)

    @property
    def name(self) -> str:
        return Path(self.path).name


class ActivationHistory:
    """A stack of activations: activate pushes, rollback pops back to the one before."""

    def __init__(self, models_dir: Path) -> None:
        self.file = Path(models_dir) / HISTORY_FILE

    def entries(self) -> list[Activation]:
        """Oldest first; an unreadable file is logged and read as empty (never blocks a swap)."""
        try:
            raw = json.loads(self.file.read_text())
            return [Activation(**e) for e in raw["activations"]]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, TypeError, KeyError) as exc:
            logger.warning("activation history %s unreadable (%s): starting a new one", self.file, exc)
            return []

    def save(self, entries: list[Activation]) -> None:
        """Replace the file atomically (temporary file, fsync, rename)."""
        data = json.dumps({"schema": 1, "activations": [asdict(e) for e in entries[-MAX_HISTORY:]]},
                          indent=2) + "\n"
        try:
            fd, tmp = tempfile.mkstemp(prefix=HISTORY_FILE, suffix=".tmp", dir=self.file.parent)
            try:
                with os.fdopen(fd, "w") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.file)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise ModelError(f"cannot write the activation history {self.file}: {exc}") from exc
