"""What the store writes and reads back: events, their metadata, and the one datetime form both
backends store alike. Kept apart from ``EventStore`` so the relay, subscribers and read models
can use these without the store's machinery.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Clock = Callable[[], datetime]
_COMPACT = json.JSONEncoder(separators=(",", ":"))


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
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
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
        "correlation_id": correlation_id or str(uuid.uuid4()),
        "causation_id": causation_id,
        **extra,
    }
