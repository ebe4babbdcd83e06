"""KeyStore: keys hashed at rest, checked by id then one argon2 verify, cached, revoked, audited."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from inspector.storage.audit import AuditLog
from inspector.storage.keys import KEY_PREFIX, ApiKeyError, KeyStore, Role, parse_key
from inspector.storage.store import InspectionStore
from inspector.storage.tables import api_keys, audit_log


class CountingHasher(PasswordHasher):
    """Cheap argon2 parameters, counting verifications."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(store: InspectionStore, hasher: CountingHasher, clock: Clock) -> Iterator[KeyStore]:
    yield KeyStore(store.engine, hasher=hasher, cache_seconds=60, clock=clock)


def _rows(store: InspectionStore, table) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


def test_a_new_key_is_shown_once_and_only_its_hash_is_stored(keys, store):
    new = keys.create("mes-line-3", "operator", actor="cli:alice")
    key_id, secret = parse_key(new.secret)
    assert new.secret.startswith(KEY_PREFIX) and key_id == new.key.key_id and len(secret) >= 40
    assert new.key.role is Role.OPERATOR and new.key.active
    (row,) = _rows(store, api_keys)
    assert row["secret_hash"].startswith("$argon2id$")
    everything = repr(_rows(store, api_keys)) + repr(_rows(store, audit_log))
    assert secret not in everything and new.secret not in everything


def test_authenticate_accepts_the_key_and_refuses_anything_else(keys):
    new = keys.create("viewer-1", Role.VIEWER, actor="t")
    found = keys.authenticate(new.secret)
    assert found is not None and (found.key_id, found.name, found.role) == (
        new.key.key_id, "viewer-1", Role.VIEWER)
    wrong = f"{KEY_PREFIX}{new.key.key_id}_{'x' * 43}"
    other_id = new.secret.replace(new.key.key_id, "0123456789abcdef")
    for bad in (wrong, other_id, "", "insp_", "insp__x", "Bearer x", new.key.key_id, "insp_a-b_c"):
        assert keys.authenticate(bad) is None, bad


def test_a_verified_key_skips_argon2_until_the_cache_expires(keys, hasher, clock):
    new = keys.create("op", "operator", actor="t")
    assert keys.authenticate(new.secret) is not None
    assert keys.authenticate(new.secret) is not None
    assert hasher.verified == 1
    wrong = f"{KEY_PREFIX}{new.key.key_id}_{'y' * 43}"
    assert keys.authenticate(wrong) is None        # a cached key id does not let a wrong secret in
    clock.now += 61
    assert keys.authenticate(new.secret) is not None
    assert hasher.verified == 3


def test_use_is_noted_once_per_cache_period(keys, clock):
    new = keys.create("op", "operator", actor="t")
    assert keys.get(new.key.key_id).last_used_at is None
    keys.authenticate(new.secret)
    first = keys.get(new.key.key_id).last_used_at
    assert first is not None
    keys.authenticate(new.secret)
    assert keys.get(new.key.key_id).last_used_at == first


def test_a_revoked_key_is_refused_at_once_even_by_another_store(keys, store, hasher):
    new = keys.create("op", "operator", actor="t")
    assert keys.authenticate(new.secret) is not None          # now cached
    elsewhere = KeyStore(store.engine, hasher=hasher)          # e.g. the CLI in another process
    revoked = elsewhere.revoke(new.key.key_id, actor="cli:bob")
    assert revoked.revoked_at is not None and not revoked.active
    assert keys.authenticate(new.secret) is None
    assert keys.active_count() == 0


def test_list_revoke_and_count(keys):
    a = keys.create("a", "viewer", actor="t").key
    b = keys.create("b", "admin", actor="t").key
    keys.revoke(a.key_id, actor="t")
    assert [k.key_id for k in keys.list()] == [a.key_id, b.key_id]
    assert [k.key_id for k in keys.list(include_revoked=False)] == [b.key_id]
    assert keys.active_count() == 1
    again = keys.revoke(a.key_id, actor="t")       # nothing changes, nothing is recorded
    assert again.revoked_at == keys.get(a.key_id).revoked_at
    with pytest.raises(ApiKeyError, match="no API key with id 'nope'"):
        keys.revoke("nope", actor="t")


def test_create_and_revoke_are_audited_with_actor_and_before_after(keys, store):
    new = keys.create("line-3", "operator", actor="cli:alice", station_id="st-1")
    keys.revoke(new.key.key_id, actor="cli:bob")
    keys.revoke(new.key.key_id, actor="cli:bob")
    revoke, create = AuditLog(store.engine).list()[0]
    assert (create.actor, create.action, create.target, create.station_id) == (
        "cli:alice", "key.create", new.key.key_id, "st-1")
    assert create.before is None
    assert create.after == {"key_id": new.key.key_id, "name": "line-3", "role": "operator"}
    assert (revoke.actor, revoke.action, revoke.target) == ("cli:bob", "key.revoke", new.key.key_id)
    assert revoke.before["revoked_at"] is None and revoke.after["revoked_at"] is not None


def test_bad_names_and_roles_are_refused(keys):
    with pytest.raises(ApiKeyError, match="role must be one of viewer, operator, admin"):
        keys.create("x", "root", actor="t")
    for name in ("", "   ", "n" * 65):
        with pytest.raises(ApiKeyError, match="key name"):
            keys.create(name, "viewer", actor="t")
    assert keys.list() == []


def test_roles_include_the_weaker_ones():
    assert Role.ADMIN.allows(Role.OPERATOR) and Role.ADMIN.allows(Role.VIEWER)
    assert Role.OPERATOR.allows(Role.VIEWER) and not Role.OPERATOR.allows(Role.ADMIN)
    assert not Role.VIEWER.allows(Role.OPERATOR)
