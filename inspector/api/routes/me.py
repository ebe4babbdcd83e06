"""GET /me: who the caller is (the key's name and role), so a page can hide what it may not do."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from inspector.api.auth import CurrentActor

router = APIRouter(tags=["access"])


class MePublic(BaseModel):
    name: str = Field(description="The key's name (`anonymous` for an open read without a key).")
    role: str = Field(description="viewer, operator or admin.")


@router.get("/me", response_model=MePublic,
            responses={401: {"description": "No valid API key (and no open reads)."}})
def get_me(actor: CurrentActor) -> MePublic:
    """The caller's key name and role."""
    return MePublic(name=actor.name, role=str(actor.role))
