"""Who is calling: API keys and roles as FastAPI dependencies (401 without a key, 403 too weak)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from inspector.api.deps import KeysDep, SettingsDep
from inspector.storage.keys import Role

__all__ = ["ANONYMOUS", "Actor", "AdminActor", "Authorized", "CurrentActor", "OperatorActor",
           "Role", "ViewerActor", "require"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HOW = "send `Authorization: Bearer <key>` or `X-API-Key: <key>` (create one: `inspector keys create`)"

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer insp_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: insp_...`")


@dataclass(frozen=True)
class Actor:
    """Who made a request: the key's name and role (record `name` in the audit log)."""

    name: str
    role: Role
    key_id: str | None = None   # None: an anonymous reader let in by api.open_reads


ANONYMOUS = Actor(name="anonymous", role=Role.VIEWER)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(HTTPStatus.UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


def identify(
    keys: KeysDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_header)],
) -> Actor | None:
    """The caller's key as an Actor; None when no key was sent; 401 for a wrong or revoked key."""
    presented = bearer.credentials if bearer is not None else api_key
    if not presented:
        return None
    key = keys.authenticate(presented)
    if key is None:
        raise _unauthorized(f"unknown, wrong or revoked API key: {HOW}")
    return Actor(name=key.name, role=key.role, key_id=key.key_id)


Caller = Annotated[Actor | None, Depends(identify)]


def _check(needed: Role, open_reads: bool, caller: Actor | None) -> Actor:
    if caller is None:
        if needed is Role.VIEWER and open_reads:
            return ANONYMOUS
        raise _unauthorized(f"this needs an API key with role {needed} or above: {HOW}")
    if not caller.role.allows(needed):
        raise HTTPException(HTTPStatus.FORBIDDEN, f"key {caller.name!r} has role {caller.role}; "
                            f"this needs {needed} or above")
    return caller


def _requirement(role: Role) -> Callable[..., Actor]:
    def dependency(settings: SettingsDep, caller: Caller) -> Actor:
        return _check(role, settings.open_reads, caller)

    dependency.__name__ = f"require_{role}"
    dependency.__doc__ = f"The caller, who must hold role {role} or above."
    return dependency


_REQUIREMENTS = {role: _requirement(role) for role in Role}


def require(role: Role | str) -> Callable[..., Actor]:
    """The dependency that lets `role` and stronger roles in (the same callable for a role,
    so FastAPI resolves it once per request): `Depends(require(Role.ADMIN))`."""
    return _REQUIREMENTS[Role(role)]


def by_method(request: Request, settings: SettingsDep, caller: Caller) -> Actor:
    """The default rule of every protected router: reads need a viewer, other methods an operator."""
    needed = Role.VIEWER if request.method in SAFE_METHODS else Role.OPERATOR
    return _check(needed, settings.open_reads, caller)


Authorized = [Depends(by_method)]               # router-level: app.include_router(..., dependencies=)
CurrentActor = Annotated[Actor, Depends(by_method)]   # who called a route under the default rule
ViewerActor = Annotated[Actor, Depends(require(Role.VIEWER))]
OperatorActor = Annotated[Actor, Depends(require(Role.OPERATOR))]
AdminActor = Annotated[Actor, Depends(require(Role.ADMIN))]
