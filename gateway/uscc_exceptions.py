"""The USCC exception list in the gateway database: credit codes real registries issued
although they fail the GB 32100-2015 check, which every input accepts as they are.

city_admin keeps it over the API (``/v1/admin/uscc-exceptions``). For each request the gateway
looks up only the codes the request names that fail the check (``named_in``: usually none, so
usually no query), admits them for its edge validation and passes them to the services in the
RPC context (``infra.identifiers`` has the whole rule). Nothing is cached: a code taken off the
list is refused from the next request on, on every gateway replica.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.db import uscc_exceptions, utcnow
from infra.identifiers import InvalidIdentifier, uscc_fails_check, validate_uscc

USCC_LENGTH = 18
# What a listed code may look like: 18 ASCII letters and digits (a registry's mistake may
# use a letter the alphabet leaves out; it is still a code someone was issued).
LISTABLE = re.compile(r"[0-9A-Z]{18}")
MAX_CANDIDATES = 1000  # codes looked up per request; a 5 MiB batch names at most this many


def listable_error(code: str) -> str | None:
    """Why ``code`` (upper-cased) cannot go on the list, or None."""
    if not LISTABLE.fullmatch(code):
        return "must be 18 ASCII letters and digits"
    try:
        validate_uscc(code, admit_listed=False)
    except InvalidIdentifier:
        return None
    return "passes the check already: only a code that fails it needs an exception"


def named_in(values: Iterable[Any]) -> set[str]:
    """The strings in these JSON values (nested included) that have a credit code's length but
    fail its check: the only codes the exception list can matter for."""
    found: set[str] = set()
    stack = list(values)
    while stack and len(found) < MAX_CANDIDATES:
        value = stack.pop()
        if isinstance(value, str):
            code = value.strip().upper()
            if len(code) == USCC_LENGTH and code.isascii() and uscc_fails_check(code):
                found.add(code)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


class UsccExceptionList:
    """The list, in the gateway database."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def listed(self, codes: Iterable[str]) -> frozenset[str]:
        """Those of ``codes`` that are on the list (no query for none)."""
        wanted = sorted({c.strip().upper() for c in codes})
        if not wanted:
            return frozenset()
        c = uscc_exceptions.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(c.uscc).where(c.uscc.in_(wanted))).scalars().all()
        return frozenset(rows)

    def get(self, code: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(uscc_exceptions).where(uscc_exceptions.c.uscc == code))
                .mappings()
                .first()
            )
        return _record(dict(row)) if row else None

    def put(self, code: str, note: str, by: str) -> tuple[dict[str, Any], bool]:
        """List ``code`` (or change its note); the record and whether it is new."""
        c = uscc_exceptions.c
        with self.engine.begin() as conn:
            found = conn.execute(sa.select(c.uscc).where(c.uscc == code)).first()
            if found is None:
                row = {"uscc": code, "note": note, "listed_at": utcnow(), "listed_by": by}
                conn.execute(sa.insert(uscc_exceptions).values(**row))
            else:
                conn.execute(sa.update(uscc_exceptions).where(c.uscc == code).values(note=note))
        record = self.get(code)
        assert record is not None  # written just now
        return record, found is None

    def remove(self, code: str) -> bool:
        """Take ``code`` off the list; False when it was not on it."""
        with self.engine.begin() as conn:
            done = conn.execute(sa.delete(uscc_exceptions).where(uscc_exceptions.c.uscc == code))
        return done.rowcount > 0

    def page(self, limit: int, after: str | None = None) -> list[dict[str, Any]]:
        """Listed codes in order, after ``after``."""
        c = uscc_exceptions.c
        query = sa.select(uscc_exceptions).order_by(c.uscc).limit(limit)
        if after is not None:
            query = query.where(c.uscc > after)
        with self.engine.connect() as conn:
            return [_record(dict(r)) for r in conn.execute(query).mappings()]


def _record(row: dict[str, Any]) -> dict[str, Any]:
    listed_at: datetime = row["listed_at"]
    return {
        "uscc": row["uscc"],
        "note": row["note"],
        "listed_at": listed_at.replace(tzinfo=UTC).isoformat(),
        "listed_by": row["listed_by"],
    }
