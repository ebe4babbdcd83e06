"""/models: the bundles of the models folder, the active one, activation, rollback, thresholds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from http import HTTPStatus
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query

from inspector.api.auth import AdminActor
from inspector.api.deps import (
    AuditDep,
    ControlDep,
    ModelManagerDep,
    ModelsDirDep,
    ScoresDep,
    SettingsDep,
)
from inspector.api.model_schemas import (
    ActiveModelPublic,
    BundlePublic,
    BundlesPublic,
    RethresholdPublic,
    SwapPublic,
    ThresholdsCreate,
    ThresholdsPublic,
)
from inspector.bundles.catalog import BadBundleName, BundleNotFound, list_bundles
from inspector.bundles.manager import ModelManager, NothingToRollBack, Swap, active_or_none
from inspector.bundles.rethreshold import rethreshold
from inspector.control import ActiveModel, StationControl
from inspector.errors import InspectorError, ModelError
from inspector.model.card import ModelCard, Thresholds
from inspector.storage.audit import AuditLog

router = APIRouter(prefix="/models", tags=["models"])
T = TypeVar("T")

NO_STATION = ("no station runs in this process (`inspector serve` over a database alone): "
              "model changes need the station's own API (`inspector run`)")
NO_MODEL = "the station has no model loaded"
NO_MODELS_DIR = "this server has no models folder (models_dir)"
APPLIED = ("applied: the running station judges every later part with these thresholds; the "
           "stored rows of the parts above are not rewritten and keep the verdict the line was told")
DRY_RUN = "dry run: nothing changed; the counts say what these thresholds would have given"

_ADMIN = {401: {"description": "No valid API key."}, 403: {"description": "Not an admin key."}}
_CONFLICT = {409: {"description": "No station in this process, or no models folder."}}
_SWAP = {**_ADMIN, **_CONFLICT, 404: {"description": "No such bundle in the models folder."},
         422: {"description": "A bad bundle name, or a bundle that cannot be loaded."}}


def _conflict(message: str) -> HTTPException:
    return HTTPException(HTTPStatus.CONFLICT, message)


@router.get("", response_model=BundlesPublic, responses=_CONFLICT)
def list_models(models_dir: ModelsDirDep, control: ControlDep) -> BundlesPublic:
    """Every bundle in the models folder with its card; a broken one with its error."""
    if models_dir is None:
        raise _conflict(NO_MODELS_DIR)
    active = active_or_none(control)
    active_path = active.bundle.resolve() if active is not None else None
    items = [BundlePublic.of(b, active=b.path.resolve() == active_path)
             for b in list_bundles(models_dir)]
    return BundlesPublic(items=items, count=len(items),
                         active=active.version if active is not None else None)


@router.get("/active", response_model=ActiveModelPublic, responses=_CONFLICT)
def get_active(control: ControlDep) -> ActiveModelPublic:
    """The model the running station judges with now."""
    if control is None:
        raise _conflict(NO_STATION)
    active = active_or_none(control)
    if active is None:
        raise _conflict(NO_MODEL)
    return ActiveModelPublic.of(active)


@router.post("/rollback", response_model=SwapPublic, responses=_SWAP)
def rollback(actor: AdminActor, control: ControlDep, manager: ModelManagerDep,
             audit: AuditDep) -> SwapPublic:
    """Activate the bundle that was active before the current one (recorded across restarts)."""
    swap = _swap(control, manager, lambda m: m.rollback(actor.name))
    _audit_swap(audit, actor.name, "model.rollback", swap, control)
    return SwapPublic.of(swap)


@router.post("/active/thresholds", response_model=RethresholdPublic,
             responses={**_ADMIN, **_CONFLICT, 422: {"description": "Invalid thresholds."}})
def set_thresholds(
    body: ThresholdsCreate, actor: AdminActor, control: ControlDep, scores: ScoresDep,
    settings: SettingsDep, audit: AuditDep,
    dry_run: Annotated[bool, Query(description="Only say what would change.")] = False,
) -> RethresholdPublic:
    """Re-judge the stored scores of the last `last_n` parts; without dry_run, apply to the
    station (later parts). Stored rows are never rewritten."""
    if not dry_run and control is None:
        raise _conflict(NO_STATION)
    active = active_or_none(control)
    if control is not None and active is None:
        raise _conflict(NO_MODEL)
    card = active.card if active is not None else None
    thresholds = _thresholds(body, card)
    station_id = control.station_id if control is not None else settings.station_id
    version = active.version if active is not None else None
    report = rethreshold(scores.last_scored(body.last_n, station_id, version), thresholds, card)
    previous = ThresholdsPublic.of(card.thresholds) if card is not None else None
    fields: dict[str, Any] = {"dry_run": dry_run, "model_version": version, "previous": previous,
                              "thresholds": ThresholdsPublic.of(thresholds)}
    if dry_run:
        return RethresholdPublic.of(report, applied=False, message=DRY_RUN, **fields)
    assert control is not None and card is not None
    updated = _call(lambda: control.set_thresholds(thresholds))
    audit.record(actor.name, "model.thresholds", target=updated.version,
                 before=asdict(card.thresholds), after=asdict(thresholds), station_id=station_id)
    return RethresholdPublic.of(report, applied=True, message=APPLIED, **fields)


@router.post("/{name}/activate", response_model=SwapPublic, responses=_SWAP)
def activate(name: str, actor: AdminActor, control: ControlDep, manager: ModelManagerDep,
             audit: AuditDep) -> SwapPublic:
    """Swap the running station's model for bundle `name` without a restart (its card's
    thresholds come with it; parts in flight finish on the old model)."""
    swap = _swap(control, manager, lambda m: m.activate(name, actor.name))
    _audit_swap(audit, actor.name, "model.activate", swap, control)
    return SwapPublic.of(swap)


def _swap(control: StationControl | None, manager: ModelManager | None,
          change: Callable[[ModelManager], Swap]) -> Swap:
    if control is None:
        raise _conflict(NO_STATION)
    if manager is None:
        raise _conflict(NO_MODELS_DIR)
    return _call(lambda: change(manager))


def _call(action: Callable[[], T]) -> T:
    """Run a station change; its errors as messages: 404 unknown bundle, 422 unloadable, 409 else."""
    try:
        return action()
    except BundleNotFound as exc:
        raise HTTPException(HTTPStatus.NOT_FOUND, str(exc)) from exc
    except (BadBundleName, ModelError) as exc:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from exc
    except NothingToRollBack as exc:
        raise _conflict(str(exc)) from exc
    except InspectorError as exc:  # e.g. the station is stopping
        raise _conflict(str(exc)) from exc


def _audit_swap(audit: AuditLog, actor: str, action: str, swap: Swap,
                control: StationControl | None) -> None:
    def state(m: ActiveModel) -> dict[str, Any]:
        return {"bundle": m.bundle.name, "version": m.version,
                "thresholds": asdict(m.card.thresholds)}

    audit.record(actor, action, target=swap.after.bundle.name, before=state(swap.before),
                 after=state(swap.after), station_id=control.station_id if control else None)


def _thresholds(body: ThresholdsCreate, card: ModelCard | None) -> Thresholds:
    """The requested thresholds; an omitted anomaly keeps the active card's (not on a fused card)."""
    anomaly = body.anomaly
    if card is not None and card.fusion is not None and anomaly is not None:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY, "the active model fuses its gate into "
                            "the defect score: it has no anomaly threshold (omit `anomaly`)")
    if anomaly is None and card is not None:
        anomaly = card.thresholds.anomaly
    try:
        return Thresholds(ng=body.ng, review=body.review, anomaly=anomaly)
    except ModelError as exc:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from exc
