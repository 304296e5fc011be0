"""Snapshots: a stream's folded state at a version, so loading it need not read every event.

A mixin of ``EventStore``: it shares the store's subject keys (personal values in a snapshot
are encrypted like those in events, so erasure reaches them), upcasters and clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from . import hashing
from .crypto import PERSONAL_MARK, SubjectKeys, decrypt_personal, encrypt_personal
from .db import bulk_insert
from .records import Clock, to_db
from .schema import snapshots
from .upcasting import Upcasters

CHUNK = 500  # streams named per statement


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
        self.save_snapshots(conn, [(stream_id, version, state)], schema_version)

    def save_snapshots(
        self,
        conn: Connection,
        taken: Sequence[tuple[str, int, dict]],
        schema_version: int = 1,
    ) -> None:
        """``(stream_id, version, state)`` each replacing the stream's snapshot, in a few
        statements whatever their number (a batch command saves many aggregates at once)."""
        if not taken:
            return
        ids = [stream_id for stream_id, _, _ in taken]
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            conn.execute(delete(snapshots).where(snapshots.c.stream_id.in_(chunk)))
        now = self.clock()
        bulk_insert(
            conn,
            snapshots,
            [
                {
                    "stream_id": stream_id,
                    "version": version,
                    "schema_version": schema_version,
                    # Personal values in a snapshot are encrypted like those in events (so
                    # erasure reaches them); canonical() would otherwise write them out in
                    # clear via str().
                    "state": hashing.canonical(encrypt_personal(state, conn, self.keys, now)),
                    "taken_at": to_db(now),
                }
                for stream_id, version, state in taken
            ],
        )

    def load_snapshot(self, conn: Connection, stream_id: str, kind: str) -> Snapshot | None:
        """The latest snapshot, upcast with the upcasters registered for ``snapshot:<kind>``."""
        row = conn.execute(select(snapshots).where(snapshots.c.stream_id == stream_id)).first()
        return None if row is None else self._snapshot_of(conn, row, kind)

    def _snapshot_of(self, conn: Connection, row: Any, kind: str) -> Snapshot:
        version, state = self.upcasters.upcast(
            f"snapshot:{kind}", row.schema_version, json.loads(row.state)
        )
        if PERSONAL_MARK in row.state:  # else nothing to decrypt: skip the walk
            state = decrypt_personal(state, conn, self.keys)
        return Snapshot(row.stream_id, row.version, version, state)

    def load_snapshots(
        self, conn: Connection, stream_ids: Iterable[str], kind: str
    ) -> dict[str, Snapshot]:
        """``load_snapshot`` of many streams, in one query per 500 (streams without one are
        left out)."""
        out: dict[str, Snapshot] = {}
        ids = list(dict.fromkeys(stream_ids))
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            for row in conn.execute(select(snapshots).where(snapshots.c.stream_id.in_(chunk))):
                out[row.stream_id] = self._snapshot_of(conn, row, kind)
        return out
