"""KeyStore: API keys with roles, hashed at rest with argon2; the clear key is shown only once."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, func, insert, select, update

from inspector.errors import InspectorError, StoreError
from inspector.storage.access import DatabaseAccess
from inspector.storage.audit import AuditEntry, insert_entry
from inspector.storage.tables import api_keys

logger = logging.getLogger(__name__)

KEY_PREFIX = "insp_"
CACHE_SECONDS = 60.0  # a verified key skips argon2 this long (revocation still applies at once)


def default_hasher() -> PasswordHasher:
    """argon2id at OWASP's password minimum (19 MiB, 2 passes, 1 lane): the secrets are 256-bit
    random, so the hash guards a leaked table, not a guessable password; a page's first calls
    then verify in tens of milliseconds instead of close to a second on a 2-core line PC."""
    return PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
MAX_NAME = 64


class Role(StrEnum):
    """What a key may do; each role includes the ones before it."""

    VIEWER = "viewer"       # read
    OPERATOR = "operator"   # viewer + trigger + review + event ingestion
    ADMIN = "admin"         # everything: models, thresholds, keys, audit

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


class ApiKeyError(InspectorError):
    """A key request that cannot be done: unknown key id, bad name or role."""


@dataclass(frozen=True)
class ApiKey:
    """A key as stored, without its secret."""

    key_id: str
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class NewKey:
    """A freshly created key and its clear text `insp_<key_id>_<secret>`, to show once."""

    key: ApiKey
    secret: str


def parse_role(role: str) -> Role:
    try:
        return Role(role.strip().lower())
    except ValueError as exc:
        raise ApiKeyError(f"role must be one of {', '.join(Role)}, got {role!r}") from exc


def parse_key(presented: str) -> tuple[str, str] | None:
    """(key_id, secret) of a key in the `insp_<key_id>_<secret>` format, else None."""
    if not presented.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = presented.removeprefix(KEY_PREFIX).partition("_")
    if not sep or not secret or not key_id or len(key_id) > 32 or not key_id.isalnum():
        return None
    return key_id, secret


class KeyStore(DatabaseAccess):
    """Create, list, revoke and check API keys. Thread-safe; one per app or command."""

    def __init__(self, engine: Engine, *, hasher: PasswordHasher | None = None,
                 cache_seconds: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(engine)
        self._hasher = hasher or default_hasher()
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._verified: dict[str, tuple[bytes, str, float]] = {}  # key_id -> sha256, hash, until
        self._verifying: dict[str, threading.Lock] = {}  # one argon2 check at a time per key

    # --- managing ------------------------------------------------------------------------

    def create(self, name: str, role: Role | str, *, actor: str,
               station_id: str | None = None) -> NewKey:
        """Store a new key (hashed) and its audit entry in one transaction."""
        clean = name.strip()
        if not 1 <= len(clean) <= MAX_NAME:
            raise ApiKeyError(f"key name must be 1 to {MAX_NAME} characters, got {name!r}")
        key = ApiKey(key_id=secrets.token_hex(8), name=clean, role=parse_role(str(role)),
                     created_at=datetime.now(UTC))
        secret = secrets.token_urlsafe(32)
        values = {"key_id": key.key_id, "name": key.name, "role": str(key.role),
                  "secret_hash": self._hasher.hash(secret), "created_at": key.created_at}
        after = {"key_id": key.key_id, "name": key.name, "role": str(key.role)}
        with self._transaction("store an API key in") as conn:
            conn.execute(insert(api_keys).values(**values))
            insert_entry(conn, AuditEntry(actor=actor, action="key.create", target=key.key_id,
                                          after=after, station_id=station_id))
        return NewKey(key=key, secret=f"{KEY_PREFIX}{key.key_id}_{secret}")

    def revoke(self, key_id: str, *, actor: str, station_id: str | None = None) -> ApiKey:
        """Revoke a key at once (audited); revoking a revoked key changes nothing."""
        now = datetime.now(UTC)
        with self._transaction("revoke an API key in") as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).mappings().first()
            if row is None:
                raise ApiKeyError(f"no API key with id {key_id!r} (see `inspector keys list`)")
            if row["revoked_at"] is not None:
                return _key(row)
            conn.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(revoked_at=now))
            insert_entry(conn, AuditEntry(
                actor=actor, action="key.revoke", target=key_id, station_id=station_id,
                before={"name": row["name"], "role": row["role"], "revoked_at": None},
                after={"name": row["name"], "role": row["role"], "revoked_at": now.isoformat()}))
        with self._lock:
            self._verified.pop(key_id, None)
        return _key({**row, "revoked_at": now})

    def list(self, include_revoked: bool = True) -> list[ApiKey]:
        """Every key, oldest first."""
        stmt = select(api_keys).order_by(api_keys.c.id)
        if not include_revoked:
            stmt = stmt.where(api_keys.c.revoked_at.is_(None))
        with self._connection("list API keys from") as conn:
            return [_key(r) for r in conn.execute(stmt).mappings()]

    def get(self, key_id: str) -> ApiKey | None:
        row = self._row(key_id)
        return None if row is None else _key(row)

    def active_count(self) -> int:
        """How many keys are not revoked."""
        stmt = select(func.count()).select_from(api_keys).where(api_keys.c.revoked_at.is_(None))
        with self._connection("count API keys in") as conn:
            return int(conn.execute(stmt).scalar_one())

    # --- checking ------------------------------------------------------------------------

    def authenticate(self, presented: str) -> ApiKey | None:
        """The active key `presented` is, else None (unknown, wrong secret or revoked).

        One indexed lookup per call, so a revocation applies at once; the argon2 check runs
        only when this key was not verified in the last `cache_seconds`.
        """
        parsed = parse_key(presented.strip())
        if parsed is None:
            return None
        key_id, secret = parsed
        row = self._row(key_id)
        if row is None or row["revoked_at"] is not None:
            return None
        with self._key_lock(key_id):  # a page's parallel first calls share one argon2 check
            if not self._recently_verified(key_id, secret, row["secret_hash"]):
                if not self._verify(row["secret_hash"], secret):
                    return None
                self._remember(key_id, secret, row["secret_hash"])
                self._touch(key_id)
        return _key(row)

    def _key_lock(self, key_id: str) -> threading.Lock:
        with self._lock:
            return self._verifying.setdefault(key_id, threading.Lock())

    def _row(self, key_id: str) -> Mapping[str, Any] | None:
        with self._connection("read API keys from") as conn:
            stmt = select(api_keys).where(api_keys.c.key_id == key_id)
            return conn.execute(stmt).mappings().first()

    def _verify(self, secret_hash: str, secret: str) -> bool:
        try:
            return self._hasher.verify(secret_hash, secret)
        except (VerificationError, InvalidHashError):
            return False

    def _recently_verified(self, key_id: str, secret: str, secret_hash: str) -> bool:
        with self._lock:
            entry = self._verified.get(key_id)
        if entry is None or entry[1] != secret_hash or entry[2] < self._clock():
            return False
        return hmac.compare_digest(entry[0], hashlib.sha256(secret.encode()).digest())

    def _remember(self, key_id: str, secret: str, secret_hash: str) -> None:
        digest = hashlib.sha256(secret.encode()).digest()
        with self._lock:
            self._verified[key_id] = (digest, secret_hash, self._clock() + self._cache_seconds)

    def _touch(self, key_id: str) -> None:
        """Note when a key was last used (at most once per cache period, so reads stay reads)."""
        try:
            with self._transaction("note an API key's use in") as conn:
                conn.execute(update(api_keys).where(api_keys.c.key_id == key_id)
                             .values(last_used_at=datetime.now(UTC)))
        except StoreError as exc:
            logger.warning("%s", exc)


def _key(row: Mapping[str, Any]) -> ApiKey:
    return ApiKey(key_id=row["key_id"], name=row["name"], role=Role(row["role"]),
                  created_at=row["created_at"], revoked_at=row["revoked_at"],
                  last_used_at=row["last_used_at"])
