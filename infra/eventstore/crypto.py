"""Per-subject encryption of personal fields (crypto-shredding).

A personal value in event data is written as ``Personal(subject_id, value)``. The store replaces
it with ``{"$personal": subject_id, "nonce": ..., "ct": ...}``: AES-GCM under the subject's own
data key. Data keys live in the service's ``subject_keys`` table, wrapped with the service master
key. ``erase(subject)`` deletes the data key: the events stay (and their hash chain still verifies,
because it covers the ciphertext), and every read shows the field as ``ERASED``.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventlet.corolocal import local as green_local
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from .schema import subject_keys

ERASED = "[erased]"
_MARK = "$personal"
PERSONAL_MARK = _MARK  # the key that marks an encrypted envelope


@dataclass(frozen=True)
class Personal:
    """A personal value (resident ID number, person name, phone) belonging to one subject."""

    subject_id: str
    value: Any


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


class SubjectKeys:
    """Data keys per subject, wrapped by the master key.

    Deliberately not cached across calls: an erasure by another process (``sesp erase``) must
    take effect on the very next read.
    """

    def __init__(self, master_key: bytes):
        self._master = AESGCM(master_key)

    def _wrap(self, subject_id: str, key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._master.encrypt(nonce, key, subject_id.encode())

    def _unwrap(self, subject_id: str, blob: bytes) -> bytes:
        return self._master.decrypt(blob[:12], blob[12:], subject_id.encode())

    def key_for_write(self, conn: Connection, subject_id: str, now: datetime) -> bytes:
        """The subject's data key, made on its first write. Two writers racing on a new (or an
        erased, returning) subject both end with the one key that was stored first: the
        insert skips a key already there, the update fills only an erased one, and each then
        reads back what the table holds."""
        key = self.key_for_read(conn, subject_id)
        if key is not None:
            return key
        fresh = AESGCM.generate_key(bit_length=256)
        wrapped = self._wrap(subject_id, fresh)
        insert = sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert
        conn.execute(
            insert(subject_keys)
            .values(subject_id=subject_id, wrapped_key=wrapped, created_at=now)
            .on_conflict_do_nothing(index_elements=[subject_keys.c.subject_id])
        )
        # An erased subject that comes back gets a fresh key; old data stays erased.
        conn.execute(
            update(subject_keys)
            .where(subject_keys.c.subject_id == subject_id, subject_keys.c.wrapped_key.is_(None))
            .values(wrapped_key=wrapped, erased_at=None)
        )
        key = self.key_for_read(conn, subject_id)
        if key is None:  # erased again between the two statements: this write is refused
            raise RuntimeError(f"the data subject {subject_id} was erased while written")
        return key

    def key_for_read(self, conn: Connection, subject_id: str) -> bytes | None:
        seen = getattr(_reading, "subjects", None)
        if seen is not None:
            seen[subject_id] = None  # a dict: ordered, and noting costs the same at any size
        row = conn.execute(
            select(subject_keys.c.wrapped_key).where(subject_keys.c.subject_id == subject_id)
        ).first()
        if row is None or row.wrapped_key is None:
            return None
        return self._unwrap(subject_id, row.wrapped_key)

    def erase(self, conn: Connection, subject_id: str, now: datetime) -> bool:
        result = conn.execute(
            update(subject_keys)
            .where(subject_keys.c.subject_id == subject_id)
            .values(wrapped_key=None, erased_at=now)
        )
        return result.rowcount > 0


# Per green thread (one nameko worker each): the subjects whose personal data it decrypted.
_reading = green_local()


def watch_subjects_read() -> dict[str, None]:
    """Start noting, for this green thread, every subject whose data it decrypts; the dict
    fills as it reads (a worker's answer may show what it read: it is kept under those keys)."""
    _reading.subjects = {}
    return _reading.subjects


@contextmanager
def subjects_unwatched() -> Iterator[None]:
    """Within: decrypt without noting the subjects (a rebuild reads every subject's data for
    the read models, not for an answer; noting them would hold one id per person)."""
    seen = getattr(_reading, "subjects", None)
    _reading.subjects = None
    try:
        yield
    finally:
        _reading.subjects = seen


def encrypt_personal(data: Any, conn: Connection, keys: SubjectKeys, now: datetime) -> Any:
    """Replace every ``Personal`` inside ``data`` by its ciphertext envelope (``data`` itself
    when it holds none: the common case costs one walk and no copies)."""
    if not has_personal(data):
        return data
    return _encrypt(data, conn, keys, now)


def _encrypt(data: Any, conn: Connection, keys: SubjectKeys, now: datetime) -> Any:
    if isinstance(data, Personal):
        key = keys.key_for_write(conn, data.subject_id, now)
        nonce = os.urandom(12)
        plain = json.dumps(data.value).encode()
        ct = AESGCM(key).encrypt(nonce, plain, data.subject_id.encode())
        return {_MARK: data.subject_id, "nonce": _b64(nonce), "ct": _b64(ct)}
    if isinstance(data, dict):
        return {k: _encrypt(v, conn, keys, now) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_encrypt(v, conn, keys, now) for v in data]
    return data


def decrypt_personal(data: Any, conn: Connection, keys: SubjectKeys) -> Any:
    """Decrypt envelopes inside ``data``; a field of an erased subject reads as ``ERASED``."""
    if isinstance(data, dict):
        if _MARK in data:
            key = keys.key_for_read(conn, data[_MARK])
            if key is None:
                return ERASED
            try:
                plain = AESGCM(key).decrypt(
                    base64.b64decode(data["nonce"]),
                    base64.b64decode(data["ct"]),
                    data[_MARK].encode(),
                )
            except InvalidTag:
                # Written under a key erased since: the subject came back and got a new one.
                # (Tampered ciphertext lands here too; ``verify`` reports that.)
                return ERASED
            return json.loads(plain)
        return {k: decrypt_personal(v, conn, keys) for k, v in data.items()}
    if isinstance(data, list):
        return [decrypt_personal(v, conn, keys) for v in data]
    return data


def has_personal(data: Any) -> bool:
    if isinstance(data, Personal):
        return True
    if isinstance(data, dict):
        return any(has_personal(v) for v in data.values())
    if isinstance(data, (list, tuple)):
        return any(has_personal(v) for v in data)
    return False


def unwrap_personal(data: Any) -> Any:
    """``data`` with every ``Personal`` replaced by its plain value (the writer's own view)."""
    if isinstance(data, Personal):
        return data.value
    if isinstance(data, dict):
        return {k: unwrap_personal(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [unwrap_personal(v) for v in data]
    return data
