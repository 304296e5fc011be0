"""Snapshots: a stream's folded state at a version, so loading it need not read every event.

A mixin of ``EventStore``: it shares the store's subject keys (personal values in a snapshot
are encrypted like those in events, so erasure reaches them), upcasters and clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from . import hashing
from .crypto import SubjectKeys, decrypt_personal, encrypt_personal
from .records import Clock, to_db
from .schema import snapshots
from .upcasting import Upcasters


@dataclass(frozen=True)
class Snapshot:
    stream_id: str
    version: int
    schema_version: int
    state: dict[str, Any]


class Snapshots:
    """``EventStore``'s snapshot methods; the store sets these attributes."""

    keys: SubjectKeys
    upcasters: Upcasters
    clock: Clock
    snapshot_every: int

    def snapshot_due(self, old_version: int, new_version: int) -> bool:
        n = self.snapshot_every
        return n > 0 and new_version // n > old_version // n

    def save_snapshot(
        self, conn: Connection, stream_id: str, version: int, state: dict, schema_version: int = 1
    ) -> None:
        conn.execute(delete(snapshots).where(snapshots.c.stream_id == stream_id))
        conn.execute(
            insert(snapshots).values(
                stream_id=stream_id,
                version=version,
                schema_version=schema_version,
                # Personal values in a snapshot are encrypted like those in events (so erasure
                # reaches them); canonical() would otherwise write them out in clear via str().
                state=hashing.canonical(encrypt_personal(state, conn, self.keys, self.clock())),
                taken_at=to_db(self.clock()),
            )
        )

    def load_snapshot(self, conn: Connection, stream_id: str, kind: str) -> Snapshot | None:
        """The latest snapshot, upcast with the upcasters registered for ``snapshot:<kind>``."""
        row = conn.execute(select(snapshots).where(snapshots.c.stream_id == stream_id)).first()
        if row is None:
            return None
        version, state = self.upcasters.upcast(
            f"snapshot:{kind}", row.schema_version, json.loads(row.state)
        )
        return Snapshot(stream_id, row.version, version, decrypt_personal(state, conn, self.keys))
