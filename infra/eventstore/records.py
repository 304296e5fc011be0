"""What the store writes and reads back: events, their metadata, and the one datetime form both
backends store alike. Kept apart from ``EventStore`` so the relay, subscribers and read models
can use these without the store's machinery.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Clock = Callable[[], datetime]
_COMPACT = json.JSONEncoder(separators=(",", ":"))


# Random bytes for ids, drawn from the OS a page at a time: one system call per 256 ids
# instead of one per id (a call that also lets go of the GIL, so a writer that holds the
# database's lock waits to get the GIL back from other threads). A forked child starts afresh
# rather than repeat its parent's unused bytes.
_RANDOM_PAGE = 4096


class _RandomBytes:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.page = b""
        self.at = 0

    def take(self, n: int) -> bytes:
        with self.lock:
            at = self.at
            if at + n > len(self.page):
                self.page, at = os.urandom(_RANDOM_PAGE), 0
            self.at = at + n
            return self.page[at : at + n]


_random = _RandomBytes()


def _fresh_random() -> None:
    global _random
    _random = _RandomBytes()


os.register_at_fork(after_in_child=_fresh_random)


def new_id() -> str:
    """A random (version 4) UUID as text, what ``str(uuid.uuid4())`` returns (from the same
    source, ``os.urandom``), without a ``UUID`` object or a system call per id: an event id
    and a correlation id per append."""
    b = bytearray(_random.take(16))
    b[6] = b[6] & 0x0F | 0x40  # version 4
    b[8] = b[8] & 0x3F | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_db(dt: datetime) -> datetime:
    """Naive UTC with microseconds: the one form both backends store and compare alike."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def from_db(dt: datetime | str) -> datetime:
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


@dataclass(frozen=True)
class NewEvent:
    """An event to append. ``data`` may contain ``Personal`` values (encrypted on write)."""

    type: str
    data: dict[str, Any]
    schema_version: int = 1
    event_id: str = field(default_factory=new_id)
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class StoredEvent:
    """An event as read back: upcast to its current version, personal fields decrypted."""

    position: int
    event_id: str
    stream_id: str
    version: int
    type: str
    schema_version: int
    data: dict[str, Any]
    meta: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime
    # ``data`` exactly as stored (canonical JSON), when ``data`` is that text parsed: read
    # back with personal fields left encrypted and no upcaster applied. Lets the relay put it
    # in the message without encoding it again.
    stored_data: str | None = field(default=None, repr=False, compare=False)
    # The event's link in its stream's hash chain. A caller that appends after this event
    # passes it as ``head_hash`` (with ``expected_version=version``): the append then needs no
    # read of the stream's head.
    hash: str = field(default="", repr=False, compare=False)

    def to_message(self, service: str) -> dict[str, Any]:
        """The body the relay publishes (data as stored: personal fields stay encrypted)."""
        return {
            "service": service,
            "event_id": self.event_id,
            "stream_id": self.stream_id,
            "version": self.version,
            "position": self.position,
            "type": self.type,
            "schema_version": self.schema_version,
            "data": self.data,
            "meta": self.meta,
            "occurred_at": self.occurred_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
        }

    def to_message_json(self, service: str) -> str:
        """``to_message`` as compact JSON (same keys, same order). The data goes in as it was
        stored when that text is at hand, instead of being encoded again: a publisher's
        main cost after the broker's."""
        if self.stored_data is None:
            return _COMPACT.encode(self.to_message(service))
        head = _COMPACT.encode(
            {
                "service": service,
                "event_id": self.event_id,
                "stream_id": self.stream_id,
                "version": self.version,
                "position": self.position,
                "type": self.type,
                "schema_version": self.schema_version,
            }
        )
        tail = _COMPACT.encode(
            {
                "meta": self.meta,
                "occurred_at": self.occurred_at.isoformat(),
                "recorded_at": self.recorded_at.isoformat(),
            }
        )
        return f'{head[:-1]},"data":{self.stored_data},{tail[1:]}'


def make_meta(
    actor: dict | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Event metadata: who (token id and role), which request, which cause."""
    return {
        "actor": actor or {"id": "system", "role": "system"},
        "correlation_id": correlation_id or new_id(),
        "causation_id": causation_id,
        **extra,
    }
