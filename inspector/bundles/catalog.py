"""The bundles of a models folder: each subfolder with a card.json, a broken one with its error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from inspector.errors import InspectorError, ModelError
from inspector.model.card import CARD_FILE, ModelCard

# a bundle is named by its folder: no separators, no leading dot (so no `..`, no hidden folder)
BUNDLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class BadBundleName(InspectorError):
    """A bundle name that is not a plain folder name inside the models folder."""


class BundleNotFound(InspectorError):
    """No bundle of that name in the models folder."""


@dataclass(frozen=True)
class BundleInfo:
    """One subfolder of the models folder: its card, or why it cannot be loaded."""

    name: str
    path: Path
    card: ModelCard | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.card is not None


def list_bundles(models_dir: Path) -> list[BundleInfo]:
    """Every subfolder holding a card.json, by name; unreadable cards are listed with their error."""
    try:
        folders = sorted(p for p in Path(models_dir).iterdir()
                         if p.is_dir() and not p.name.startswith(".") and (p / CARD_FILE).exists())
    except OSError as exc:
        raise ModelError(f"cannot read the models folder {models_dir}: {exc}") from exc
    return [_listed(models_dir, p) for p in folders]


def _listed(models_dir: Path, folder: Path) -> BundleInfo:
    try:
        return load_bundle(models_dir, folder.name)
    except (BadBundleName, BundleNotFound) as exc:  # an odd name or a link out: listed, not loadable
        return BundleInfo(folder.name, folder, error=str(exc))


def load_bundle(models_dir: Path, name: str) -> BundleInfo:
    """The bundle `name` with its card or its error; raises for a bad or unknown name."""
    path = bundle_path(models_dir, name)
    try:
        return BundleInfo(name, path, card=ModelCard.load(path))
    except ModelError as exc:
        return BundleInfo(name, path, error=str(exc))
    except OSError as exc:
        return BundleInfo(name, path, error=f"model bundle {path}: cannot read {CARD_FILE} ({exc})")


def bundle_path(models_dir: Path, name: str) -> Path:
    """The folder `name` directly inside `models_dir`, resolved; never a path outside it."""
    if not BUNDLE_NAME.match(name):
        raise BadBundleName(f"bundle name {name!r} must be a folder name inside the models folder "
                            "(letters, digits, . _ -; no path separators, no leading dot)")
    base = Path(models_dir).resolve()
    path = (base / name).resolve()
    if path.parent != base:  # a link pointing elsewhere
        raise BundleNotFound(f"bundle {name!r} lies outside the models folder")
    if not (path / CARD_FILE).is_file():
        raise BundleNotFound(f"no bundle {name!r} in the models folder (a folder with {CARD_FILE})")
    return path
