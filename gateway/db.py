"""The gateway's own database: API tokens, idempotency records and the USCC exception list
(nothing else).

SQLite file by default, PostgreSQL via ``SESP_GATEWAY_DATABASE_URL``; tables come from the
gateway's Alembic chain (version table ``gateway_version``). Times are naive UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from infra import settings
from infra.eventstore.db import make_engine, migrate, vacuum_free_pages

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "gateway_version"

metadata = sa.MetaData()

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(40), nullable=False),
    sa.Column("bureau", sa.String(20)),
    sa.Column("uscc", sa.String(18)),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("revoked_at", sa.DateTime),
)
# Token listing pages by (created_at, id).
sa.Index("ix_api_tokens_created", api_tokens.c.created_at, api_tokens.c.id)

idempotency_records = sa.Table(
    "idempotency_records",
    metadata,
    sa.Column("caller", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("locked_until", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("status", sa.Integer),
    sa.Column("headers", sa.Text),
    sa.Column("body", sa.LargeBinary),  # sealed (gateway.idempotency): never in clear
    # Keyed hashes of the ID numbers the request named, for ``sesp erase``.
    sa.Column("subjects", sa.Text),
)
# Expired records are purged by expires_at.
sa.Index("ix_idempotency_expires", idempotency_records.c.expires_at)

# Credit codes real registries issued although they fail the check, accepted by every input
# (city_admin keeps the list; infra.identifiers explains how services learn of it).
uscc_exceptions = sa.Table(
    "uscc_exceptions",
    metadata,
    sa.Column("uscc", sa.String(18), primary_key=True),
    sa.Column("note", sa.String(500), nullable=False),
    sa.Column("listed_at", sa.DateTime, nullable=False),
    sa.Column("listed_by", sa.String(200), nullable=False),
)


def utcnow() -> datetime:
    """Now, as the naive UTC value both backends store."""
    return datetime.now(UTC).replace(tzinfo=None)


def open_database(url: str | None = None) -> Engine:
    """An engine on the gateway database, migrated to head."""
    engine = make_engine(url or settings.database_url("gateway"))
    before = _version(engine)
    migrate(engine, [(VERSION_TABLE, MIGRATIONS)], kernel=False)
    if before in CLEAR_RESPONSES:
        # Responses stored in clear before, and deleted without secure_delete, may sit in
        # free pages: rewrite the file once.
        vacuum_free_pages(engine)
    return engine


# Versions whose idempotency records held responses in clear (gw0003 sealed them).
CLEAR_RESPONSES = ("gw0001", "gw0002")


def _version(engine: Engine) -> str | None:
    if not sa.inspect(engine).has_table(VERSION_TABLE):
        return None
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
