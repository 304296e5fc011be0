"""Who is calling: bearer tokens, roles and scopes (API.md "Roles and scopes").

Tokens are high-entropy random strings; only their SHA-256 is stored. A presented token is
looked up by its digest (the index compares digests, never secrets) and the match is confirmed
with ``hmac.compare_digest``. Nothing is cached, so a revocation holds from the next request on,
on every gateway replica.

``SESP_ADMIN_TOKEN``, when set, is accepted as a ``city_admin`` token without being stored: the
bootstrap that lets ``make run`` print a working admin token before any token exists.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.db import api_tokens, utcnow
from infra.identifiers import InvalidIdentifier, validate_uscc
from infra.places import BUREAUS, CITY_BUREAU

CITY_ADMIN = "city_admin"
BUREAU_OFFICER = "bureau_officer"
APPLICANT = "applicant"
MAINTENANCE_UNIT = "maintenance_unit"
INSURER = "insurer"
ROLES = (CITY_ADMIN, BUREAU_OFFICER, APPLICANT, MAINTENANCE_UNIT, INSURER)
USCC_ROLES = (APPLICANT, MAINTENANCE_UNIT, INSURER)

BOOTSTRAP_TOKEN_ID = "bootstrap-admin"
TOKEN_PREFIX = "sesp_"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a token's id, role and scope (bureau or USCC)."""

    id: str
    role: str
    name: str = ""
    bureau: str | None = None
    uscc: str | None = None

    def actor(self) -> dict[str, Any]:
        """What services record as the actor of an event (no secret in it): the token id for
        audit, and the role, scope and name that timelines show people."""
        out: dict[str, Any] = {"id": self.id, "role": self.role}
        if self.bureau:
            out["bureau"] = self.bureau
        if self.uscc:
            out["uscc"] = self.uscc
        if self.name:
            out["name"] = self.name
        return out

    def covers(self, *, bureau: str | None = None, uscc: str | Iterable[str] | None = None) -> bool:
        """Whether an object of this bureau and/or these USCCs lies inside the caller's scope.

        A city admin covers everything; an officer of the city bureau (``SH``) covers every
        bureau, any other officer only its own; the USCC roles cover objects naming their code.
        """
        if self.role == CITY_ADMIN:
            return True
        if self.role == BUREAU_OFFICER:
            return bureau is not None and (self.bureau == CITY_BUREAU or bureau == self.bureau)
        if self.role in USCC_ROLES and uscc is not None:
            codes = {uscc} if isinstance(uscc, str) else set(uscc)
            return self.uscc in codes
        return False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh secret: 256 random bits, URL-safe, with a prefix that secret scanners know."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _a(role: str) -> str:
    """The role with its article: "an insurer", "a city_admin"."""
    return f"{'an' if role[:1] in 'aeiou' else 'a'} {role}"


def claim_errors(role: str, bureau: str | None, uscc: str | None) -> dict[str, list[str]]:
    """Problems with a role/scope combination, keyed by field (empty when fine)."""
    errors: dict[str, list[str]] = {}
    if role not in ROLES:
        errors["role"] = [f"must be one of {', '.join(ROLES)}"]
        return errors
    if role == BUREAU_OFFICER:
        if not bureau:
            errors["bureau"] = ["a bureau_officer token needs a bureau"]
        elif bureau not in BUREAUS:
            errors["bureau"] = [f"unknown bureau; one of {', '.join(BUREAUS)}"]
    elif bureau:
        errors["bureau"] = [f"{_a(role)} token has no bureau"]
    if role in USCC_ROLES:
        if not uscc:
            errors["uscc"] = [f"{_a(role)} token needs a uscc"]
        else:
            try:
                validate_uscc(uscc)
            except InvalidIdentifier as exc:
                errors["uscc"] = [str(exc)]
    elif uscc:
        errors["uscc"] = [f"{_a(role)} token has no uscc"]
    return errors


class TokenStore:
    """API tokens in the gateway database."""

    def __init__(self, engine: Engine, bootstrap_token: str | None = None):
        self.engine = engine
        self._bootstrap_hash = hash_token(bootstrap_token) if bootstrap_token else None

    def create(
        self,
        *,
        role: str,
        name: str,
        bureau: str | None = None,
        uscc: str | None = None,
        created_by: str = "cli",
    ) -> tuple[str, dict[str, Any]]:
        """Store a new token; return the secret (shown once) and its public record."""
        uscc = uscc.strip().upper() if uscc else None
        token = new_token()
        row = {
            "id": "tok_" + uuid.uuid4().hex,
            "token_hash": hash_token(token),
            "name": name,
            "role": role,
            "bureau": bureau or None,
            "uscc": uscc,
            "created_at": utcnow(),
            "created_by": created_by,
            "revoked_at": None,
        }
        with self.engine.begin() as conn:
            conn.execute(sa.insert(api_tokens).values(**row))
        return token, public_record(row)

    def revoke(self, token_id: str) -> bool:
        """Revoke a token; False if no such token. Revoking twice is harmless."""
        with self.engine.begin() as conn:
            found = conn.execute(
                sa.select(api_tokens.c.id, api_tokens.c.revoked_at).where(
                    api_tokens.c.id == token_id
                )
            ).first()
            if found is None:
                return False
            if found.revoked_at is None:
                conn.execute(
                    sa.update(api_tokens)
                    .where(api_tokens.c.id == token_id)
                    .values(revoked_at=utcnow())
                )
        return True

    def authenticate(self, token: str) -> Principal | None:
        """The principal of a live token, or None (unknown, revoked or malformed)."""
        if not token or len(token) > 200:
            return None
        digest = hash_token(token)
        if self._bootstrap_hash and hmac.compare_digest(digest, self._bootstrap_hash):
            return Principal(BOOTSTRAP_TOKEN_ID, CITY_ADMIN, name="SESP_ADMIN_TOKEN")
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(api_tokens).where(api_tokens.c.token_hash == digest)
            ).first()
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.token_hash, digest):
            return None
        return Principal(row.id, row.role, row.name, row.bureau, row.uscc)

    def list(self, limit: int, after: tuple[datetime, str] | None = None) -> list[dict[str, Any]]:
        """Tokens in creation order (public records, never hashes) after a cursor position."""
        c = api_tokens.c
        query = sa.select(api_tokens).order_by(c.created_at, c.id)
        if after is not None:
            created, token_id = after
            query = query.where(
                sa.or_(c.created_at > created, sa.and_(c.created_at == created, c.id > token_id))
            )
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit)).mappings().all()
        return [public_record(dict(r)) for r in rows]


def public_record(row: dict[str, Any]) -> dict[str, Any]:
    """A token as the API shows it: everything but the hash."""

    def iso(value: datetime | None) -> str | None:
        return value.replace(tzinfo=UTC).isoformat() if value else None

    return {
        "id": row["id"],
        "name": row["name"],
        "role": row["role"],
        "bureau": row["bureau"],
        "uscc": row["uscc"],
        "created_at": iso(row["created_at"]),
        "created_by": row["created_by"],
        "revoked_at": iso(row["revoked_at"]),
    }
