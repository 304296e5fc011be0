"""Erasing a person (``sesp erase``): from what the person presents to the data subjects a
service holds, and the erasure of their keys.

A person presents an ID number, not the data-subject id (a keyed hash only the service can
compute): each service maps the presented identifier to its subjects with its own subject key
(``subjects_of``) and deletes their data keys (``erase``); the events stay, and every personal
field of theirs reads ``[erased]``. A subject id itself (``person-`` and 32 hex digits, as an
older ``sesp erase`` took it) is accepted too.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime

from sqlalchemy.engine import Connection, Engine

from infra.eventstore.crypto import SubjectKeys
from infra.eventstore.db import truncate_wal

SUBJECT_ID = re.compile(r"person-[0-9a-f]{32}")


def subject_id(subject_key: bytes, id_number: str) -> str:
    """The data subject of a person: a keyed hash of the ID number (not reversible without
    the service's key, stable across the person's records)."""
    digest = hmac.new(subject_key, id_number.encode(), hashlib.sha256).hexdigest()
    return f"person-{digest[:32]}"


def subjects_of(presented: str, subject_key: bytes) -> list[str]:
    """The subject ids ``presented`` may name: its own, when it is one, and the subject of
    the ID number it is (trimmed, a trailing ``x`` upper-cased, as the services store it)."""
    text = presented.strip()
    found = [text] if SUBJECT_ID.fullmatch(text) else []
    found.append(subject_id(subject_key, text.upper()))
    return list(dict.fromkeys(found))


def erase(
    conn: Connection, keys: SubjectKeys, presented: str, subject_key: bytes, now: datetime
) -> list[str]:
    """Delete the data keys of the subjects ``presented`` names; the subject ids erased."""
    return [s for s in subjects_of(presented, subject_key) if keys.erase(conn, s, now)]


def scrub(engine: Engine) -> bool:
    """After an erasure has committed: leave no copy of a deleted key in the WAL (SQLite).
    False when a reader in another process kept the WAL (a later checkpoint overwrites it)."""
    return truncate_wal(engine)
