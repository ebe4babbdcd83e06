"""ApiSettings: the API's few deployment facts (token from the environment, body limit)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from inspector.trace.config import RootCauseConfig

ENV_TOKEN = "INSPECTOR_API_TOKEN"
MAX_BODY_BYTES = 16 * 1024 * 1024   # ~50,000 events of a typical size per POST


@dataclass(frozen=True)
class ApiSettings:
    """How the app behaves; `from_env` reads the token when the app is created, not at import."""

    token: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    root_cause: RootCauseConfig = field(default_factory=RootCauseConfig)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> ApiSettings:
        """Settings with the bearer token from INSPECTOR_API_TOKEN (unset or empty: no auth)."""
        env = os.environ if environ is None else environ
        token = env.get(ENV_TOKEN) or None
        return cls(token=token, **overrides)  # type: ignore[arg-type]
