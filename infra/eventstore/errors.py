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
