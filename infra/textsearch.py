"""Searching text columns for a fragment the same way on SQLite and PostgreSQL: ASCII letters
in either case, every other character as written (SQLite's ``LIKE`` folds only ASCII; a bare
``lower()`` or ``ILIKE`` on PostgreSQL would fold ``É`` too, and the two backends would find
different records)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func
from sqlalchemy.engine import Connection

_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_LOWER = _ASCII_UPPER.lower()


def contains_text(conn: Connection, column: Any, text: str) -> Any:
    """Whether ``column`` contains ``text`` (``%``, ``_`` and ``\\`` taken literally). On
    PostgreSQL ``ILIKE`` (what a trigram index answers) narrowed by a ``LIKE`` on ASCII-folded
    text."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if conn.dialect.name != "postgresql":
        return column.like(f"%{escaped}%", escape="\\")
    folded = escaped.translate(str.maketrans(_ASCII_UPPER, _ASCII_LOWER))
    return and_(
        column.ilike(f"%{escaped}%", escape="\\"),
        func.translate(column, _ASCII_UPPER, _ASCII_LOWER).like(f"%{folded}%", escape="\\"),
    )
