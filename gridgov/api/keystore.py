"""API keys: issue, verify, list and revoke, stored hashed in the ledger (``api_keys``).

A key looks like ``gg_<prefix>_<secret>``: the prefix (8 hex characters) is stored in clear and
indexed so a key is found with one lookup; the secret is 32 random bytes. The ledger keeps
only SHA-256 of the whole key. A slow password hash (scrypt, argon2) protects low-entropy
passwords against guessing; a 256-bit random secret cannot be guessed, so a slow hash would
add no protection and cost tens of milliseconds of CPU on every request instead.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gridgov.domain.enums import KEY_ROLES, Role, TerritoryKind
from gridgov.domain.errors import InvalidInput, NotFound
from gridgov.domain.lifecycle import Actor
from gridgov.item_catalog.loader import Catalog
from gridgov.ledger.db import transaction
from gridgov.ledger.models import ApiKey

KEY_RE = re.compile(r"^gg_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")
MAX_NAME = 100  # the ledger's actor column is 120: name + "#" + prefix must fit


@dataclass(frozen=True)
class Principal:
    """Who a verified key speaks for. ``scope`` limits a key to a street or community."""

    prefix: str
    role: Role
    name: str
    department: str | None = None
    scope: str | None = None

    @property
    def actor_name(self) -> str:
        """The name written into the ledger: the key's name and which key it was."""
        return f"{self.name}#{self.prefix}"

    def actor(self) -> Actor:
        return Actor(
            self.role,
            self.actor_name,
            department=self.department if self.role == Role.DEPARTMENT else None,
            community=self.scope if self.role == Role.COMMUNITY else None,
        )


@dataclass(frozen=True)
class KeyInfo:
    prefix: str
    role: str
    name: str
    department: str | None
    scope: str | None
    created_at: datetime
    revoked_at: datetime | None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_binding(
    catalog: Catalog | Callable[[], Catalog], role: Role, department: str | None, scope: str | None
) -> None:
    if role not in KEY_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(sorted(KEY_ROLES))}", field="role")

    @cache
    def cat() -> Catalog:  # read only when there is a code to check
        return catalog() if callable(catalog) else catalog

    if role == Role.DEPARTMENT:
        if not department or department not in cat().departments or department == "COMMUNITY":
            raise InvalidInput(
                f"a department key needs a known department code, not {department!r}",
                field="department",
            )
    elif department:
        raise InvalidInput("only department keys name a department", field="department")
    unit = cat().territory.get(scope) if scope else None
    if role == Role.COMMUNITY and (unit is None or unit.kind != TerritoryKind.COMMUNITY):
        raise InvalidInput(
            f"a community key needs a known community code, not {scope!r}", field="community"
        )
    if scope and (unit is None or unit.kind not in (TerritoryKind.STREET, TerritoryKind.COMMUNITY)):
        raise InvalidInput(
            f"scope must be a known street or community code, not {scope!r}", field="community"
        )
    if scope and role == Role.DEPARTMENT:
        raise InvalidInput(
            "department keys are bound by department, not territory", field="community"
        )


def create_key(
    factory: sessionmaker[Session],
    catalog: Catalog | Callable[[], Catalog],
    role: Role,
    name: str,
    *,
    department: str | None = None,
    scope: str | None = None,
) -> tuple[str, KeyInfo]:
    """Issue a key; returns the token (shown once, never stored) and its record. ``catalog``
    may be a loader: it is read only to check a department or community code."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise InvalidInput(f"name must be 1–{MAX_NAME} characters", field="name")
    _check_binding(catalog, role, department, scope)
    prefix = secrets.token_hex(4)
    token = f"gg_{prefix}_{secrets.token_urlsafe(32)}"
    now = datetime.now(UTC)
    row = ApiKey(
        prefix=prefix,
        key_hash=digest(token),
        role=role.value,
        name=name,
        department=department,
        community=scope,
        created_at=now,
        revoked_at=None,
    )
    with transaction(factory) as s:
        s.add(row)
    return token, _info(row)


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        row.prefix,
        row.role,
        row.name,
        row.department,
        row.community,
        row.created_at,
        row.revoked_at,
    )


def list_keys(factory: sessionmaker[Session], *, include_revoked: bool = False) -> list[KeyInfo]:
    with factory() as s:
        q = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
        if not include_revoked:
            q = q.where(ApiKey.revoked_at.is_(None))
        return [_info(r) for r in s.scalars(q)]


def revoke_key(factory: sessionmaker[Session], prefix: str) -> KeyInfo:
    with transaction(factory) as s:
        row = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if row is None:
            raise NotFound(f"no key with prefix {prefix!r}", field="prefix")
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
        return _info(row)


class KeyVerifier:
    """Checks presented keys. Verified keys are cached for ``ttl`` seconds so a request costs
    no ledger read; a revocation therefore takes effect within ``ttl`` on every replica."""

    def __init__(self, factory: sessionmaker[Session], ttl: float = 5.0) -> None:
        self.factory = factory
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def verify(self, token: str) -> Principal | None:
        """The principal for a valid, unrevoked key; None for anything else."""
        match = KEY_RE.match(token)
        if match is None:
            return None
        hashed = digest(token)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(hashed)
        if hit is not None and hit[0] > now:
            return hit[1]
        with self.factory() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.prefix == match.group(1)))
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.key_hash, hashed):
            return None
        principal = Principal(row.prefix, Role(row.role), row.name, row.department, row.community)
        with self._lock:
            if len(self._cache) > 10_000:  # bounded: keys are few, garbage tokens are not cached
                self._cache.clear()
            self._cache[hashed] = (now + self.ttl, principal)
        return principal
