"""Errors raised by the event store."""


class EventStoreError(Exception):
    """Base class of event store errors."""


class ConcurrencyError(EventStoreError):
    """The stream moved on since the caller read it (expected version mismatch)."""

    def __init__(self, stream_id: str, expected: int, actual: int | None):
        self.stream_id, self.expected, self.actual = stream_id, expected, actual
        super().__init__(f"stream {stream_id!r} is at version {actual}, expected {expected}")


class TamperedEvent(EventStoreError):
    """A stored event does not match its hash chain."""


class PoisonEvent(EventStoreError):
    """A stored event that cannot be read back or sent on (data that does not parse, an
    upcaster that fails on it, a body that cannot be encoded). Retrying does not help: an
    operator fixes the cause or parks the event (``sesp relay skip``)."""

    def __init__(self, position: int, event_id: str, type_: str, reason: str):
        self.position, self.event_id, self.type, self.reason = position, event_id, type_, reason
        super().__init__(f"event {event_id} ({type_}, position {position}): {reason}")
