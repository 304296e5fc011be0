"""Time-driven rules over the aggregates that are due: one helper for every service's sweeps.

A ``Sweep`` names an aggregate class, a query for the keys that are due (``due(conn, after,
limit)``, in key order, after a key or from the start) and the command time gives a due
aggregate (``command(aggregate, now)``, ``None`` when nothing is to be done after all). A run
loads a bounded batch of due aggregates, decides and saves each in its own savepoint (a
concurrent change to one is skipped: the next run sees it again) and remembers where it
stopped: the next run continues after it and wraps to the start once the due set is walked.
So an aggregate that stays due without anything to do (a rule that keeps declining) can never
starve the ones after it, however many there are.

Sweeps are idempotent: a decided event changes the aggregate so that it is no longer due, and
commands give the events ids derived from the aggregate and the rule, so a run that is
repeated after a crash stores nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from infra import domain, errors
from infra.eventstore import ConcurrencyError
from infra.repository import Repository

log = logging.getLogger("sesp.sweep")

DueQuery = Callable[[Connection, Any, int], list[Any]]
CommandFor = Callable[[Any, datetime], domain.Command | None]


@dataclass
class Sweep:
    name: str
    cls: type
    due: DueQuery
    command: CommandFor
    batch: int = 200
    # Where the last run stopped, per process (``None``: from the start of the due set).
    cursor: Any = field(default=None, init=False)

    def run(self, repo: Repository, now: datetime) -> int:
        """One bounded pass; returns how many aggregates changed."""
        conn = repo.conn
        keys = self.due(conn, self.cursor, self.batch)
        if not keys and self.cursor is not None:
            self.cursor = None  # walked to the end: start again from the beginning
            keys = self.due(conn, None, self.batch)
        self.cursor = keys[-1] if len(keys) >= self.batch else None
        aggregates: dict[str, Any] = repo.load_many(self.cls, [str(k) for k in keys])
        changed = 0
        for key, aggregate in aggregates.items():
            command = self.command(aggregate, now)
            if command is None:
                continue
            try:
                with conn.begin_nested():
                    events = repo.decide_and_save(key, aggregate, command, now)
            except (ConcurrencyError, errors.Conflict) as exc:
                log.info("sweep %s: %s skipped this time (%s)", self.name, key, exc)
                continue
            changed += bool(events)
        return changed
