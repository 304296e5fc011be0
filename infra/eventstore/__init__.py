"""Event store: append/read, gapless tailing, snapshots, upcasting, hash chain, erasure."""

from .crypto import ERASED, Personal, SubjectKeys
from .db import make_engine, migrate
from .errors import ConcurrencyError, EventStoreError, TamperedEvent
from .store import EventStore, NewEvent, Snapshot, StoredEvent, make_meta, utcnow
from .tailing import Tailer
from .upcasting import Upcasters

__all__ = [
    "ERASED",
    "ConcurrencyError",
    "EventStore",
    "EventStoreError",
    "NewEvent",
    "Personal",
    "Snapshot",
    "StoredEvent",
    "SubjectKeys",
    "Tailer",
    "TamperedEvent",
    "Upcasters",
    "make_engine",
    "make_meta",
    "migrate",
    "utcnow",
]
