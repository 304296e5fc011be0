"""What a consumer receives and what becomes of it: shared by the live path
(``subscriber``) and the catch-up path (``catchup``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class IncomingEvent:
    """An event another service published, as a handler receives it."""

    service: str
    event_id: str
    stream_id: str
    version: int
    position: int
    type: str
    schema_version: int
    data: dict[str, Any]
    meta: dict[str, Any]
    occurred_at: datetime

    @classmethod
    def from_message(cls, body: dict[str, Any]) -> IncomingEvent:
        return cls(
            service=body["service"],
            event_id=body["event_id"],
            stream_id=body["stream_id"],
            version=int(body["version"]),
            position=int(body.get("position") or 0),
            type=body["type"],
            schema_version=int(body.get("schema_version", 1)),
            data=body.get("data") or {},
            meta=body.get("meta") or {},
            occurred_at=datetime.fromisoformat(body["occurred_at"]),
        )

    def to_message(self) -> dict[str, Any]:
        """The message body again (to hold it, or to dead-letter it)."""
        return {
            "service": self.service,
            "event_id": self.event_id,
            "stream_id": self.stream_id,
            "version": self.version,
            "position": self.position,
            "type": self.type,
            "schema_version": self.schema_version,
            "data": self.data,
            "meta": self.meta,
            "occurred_at": self.occurred_at.isoformat(),
        }


class Origin(enum.Enum):
    """Where a delivery comes from."""

    LIVE = "live"  # a message from the queue
    CATCH_UP = "catch-up"  # the source's history, read by the catch-up subscription
    PENDING = "pending"  # held in ``consumer_pending`` until its predecessor was applied


class Outcome(enum.Enum):
    """What became of a delivery."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"  # applied before: no effect
    HELD = "held"  # waits in ``consumer_pending`` for its predecessor
    PARKED = "parked"  # the dead-lettered event of a parked stream, met again in history
    POISON = "poison"  # failed ``max_attempts`` times: dead-lettered, its stream parked
    STOPPING = "stopping"  # the container stops: not applied, to be delivered again


class Stopping(Exception):
    """The container is stopping: give the work back instead of finishing it."""
