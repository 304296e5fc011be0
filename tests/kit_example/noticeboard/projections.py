"""The noticeboard's read model: one row per notice, a pure function of its board's state
(so a rebuild equals the live table). ``migrations/versions`` creates exactly this table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Boolean, Column, Date, Index, Integer, MetaData, String, Table, select
from sqlalchemy.engine import Connection

from infra.clock import local_date
from infra.readmodels import ReadModels, upsert
from infra.repository import Kind, Kinds
from tests.kit_example.noticeboard.domain import EVENTS, Board

metadata = MetaData()

notices = Table(
    "notices",
    metadata,
    Column("board", String(100), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("title", String(200), nullable=False),
    Column("expires_on", Date, nullable=False),
    Column("pinned", Boolean, nullable=False),
)
Index("ix_notices_pinned_expires_on", notices.c.pinned, notices.c.expires_on)


def write_boards(conn: Connection, boards: Sequence[Board]) -> None:
    for board in boards:
        for n in board.notices:
            row = {"board": board.name, "number": n.number, "title": n.title}
            upsert(conn, notices, {**row, "expires_on": n.expires_on, "pinned": n.pinned})


def boards_with_expired(conn: Connection, after: str | None, limit: int, now: datetime) -> list:
    """The sweep's due query: boards holding a pinned notice past its day, in name order."""
    query = select(notices.c.board).distinct().order_by(notices.c.board).limit(limit)
    query = query.where(notices.c.pinned, notices.c.expires_on < local_date(now))
    if after is not None:
        query = query.where(notices.c.board > after)
    return list(conn.execute(query).scalars())


KINDS = Kinds(Kind("board-", Board, EVENTS))
READ_MODELS = ReadModels(metadata, KINDS, write_boards)
