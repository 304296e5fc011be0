"""Time-driven rules over the aggregates that are due: one helper for every service's sweeps.

A ``Sweep`` names an aggregate class, a query for the keys that are due (``due(conn, after,
limit)``, in key order, after a key or from the start) and the command time gives a due
aggregate (``command(aggregate, now)``, ``None`` when nothing is to be done after all). A run
loads a bounded batch of due aggregates, decides and saves each in its own savepoint (a
concurrent change to one, or a refusal, is skipped: the next run sees it again) and
remembers where it stopped: the next run continues after it and wraps to the start once the
due set is walked.
So an aggregate that stays due without anything to do (a rule that keeps declining) can never
starve the ones after it, however many there are.

Sweeps are idempotent: a decided event changes the aggregate so that it is no longer due, and
the events' ids derive from the sweep, the aggregate and its version (or come from
``event_ids``, when another path records the same fact under its own id), so a run that is
repeated after a crash stores nothing twice.

What is due usually depends on the day: a sweep declared ``dated`` calls its query with ``now``
too (``due(conn, after, limit, now)``). ``args`` are further arguments of the aggregate's
``decide`` (a working-day calendar, a rule set).

A sweep declared ``bulk`` decides on every due aggregate of the batch first and saves the
changes together (``Repository.save_many``: one query for the streams' heads, one insert of
every event, one call writing the read models), instead of one savepoint, append and
read-model write per aggregate. It stores the same events under the same ids and skips what
the one-at-a-time run skips (a refusal, a stream another writer moved on: the store reports it
per stream, the rest is saved); its read-model writer must take many aggregates in one call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from infra import domain, errors
from infra.eventstore import ConcurrencyError
from infra.repository import Repository, domain_errors

log = logging.getLogger("sesp.sweep")

# (conn, after, limit), or for a dated sweep (conn, after, limit, now)
DueQuery = Callable[..., list[Any]]
CommandFor = Callable[[Any, datetime], domain.Command | None]
EventIds = Callable[[Any, Sequence[domain.Event]], Sequence[str | None]]


@dataclass
class Sweep:
    name: str
    cls: type
    due: DueQuery
    command: CommandFor
    batch: int = 200
    args: tuple = ()
    dated: bool = False
    # ``event_ids(aggregate, events)``: ids of the decided events (None: derived).
    event_ids: EventIds | None = None
    # Rewrite the rows of a due aggregate that had nothing to do: its due date was computed
    # under other rules, and left as it is it would be read again on every run.
    refresh_idle: bool = False
    # Decide on the whole batch, then save it in a few statements (see the module).
    bulk: bool = False
    # Where the last run stopped, per process (``None``: from the start of the due set).
    cursor: Any = field(default=None, init=False)

    def run(self, repo: Repository, now: datetime) -> int:
        """One bounded pass; returns how many aggregates changed."""
        conn = repo.conn
        keys = self._due(conn, self.cursor, now)
        if not keys and self.cursor is not None:
            self.cursor = None  # walked to the end: start again from the beginning
            keys = self._due(conn, None, now)
        self.cursor = keys[-1] if len(keys) >= self.batch else None
        aggregates: dict[str, Any] = repo.load_many(self.cls, [str(k) for k in keys])
        if self.bulk:
            return self._run_bulk(repo, aggregates, now)
        changed = 0
        for key, aggregate in aggregates.items():
            command = self.command(aggregate, now)
            if command is None and not self.refresh_idle:
                continue
            try:
                with conn.begin_nested():
                    stored = self._decide_and_save(repo, key, aggregate, command, now)
            except (ConcurrencyError, errors.Conflict) as exc:
                log.info("sweep %s: %s skipped this time (%s)", self.name, key, exc)
                continue
            except errors.DomainError as exc:
                # A rule refusing its own sweep is a bug to fix, but raised here it would roll
                # back the whole run, every time, and starve the batch it sits in.
                log.warning("sweep %s: %s refused (%s)", self.name, key, exc)
                continue
            changed += bool(stored)
        return changed

    def _run_bulk(self, repo: Repository, aggregates: dict[str, Any], now: datetime) -> int:
        changes: list[tuple[str, Any, list[domain.Event]]] = []
        command_ids: list[str | None] = []
        event_ids: list[Sequence[str | None] | None] = []
        idle: list[Any] = []
        for key, aggregate in aggregates.items():
            command = self.command(aggregate, now)
            if command is None and not self.refresh_idle:
                continue
            events: list[domain.Event] = []
            if command is not None:
                try:
                    with domain_errors():
                        events = aggregate.decide(command, now, *self.args)
                except errors.Conflict as exc:
                    log.info("sweep %s: %s skipped this time (%s)", self.name, key, exc)
                    continue
                except errors.DomainError as exc:  # as in a run one at a time: see run()
                    log.warning("sweep %s: %s refused (%s)", self.name, key, exc)
                    continue
            if not events:
                idle.append(aggregate)
                continue
            changes.append((key, aggregate, events))
            event_ids.append(self.event_ids(aggregate, events) if self.event_ids else None)
            command_ids.append(domain.derived_id("sweep", self.name, key, aggregate.version))
        if idle and self.refresh_idle and repo.read_models is not None:
            repo.read_models.save(repo.conn, idle)
        if not changes:
            return 0
        written = repo.save_many(changes, command_ids=command_ids, event_ids=event_ids)
        changed = 0
        for (key, _, _), got in zip(changes, written, strict=True):
            if isinstance(got, ConcurrencyError):
                log.info("sweep %s: %s skipped this time (%s)", self.name, key, got)
                continue
            changed += bool(got)
        return changed

    def _due(self, conn: Connection, after: Any, now: datetime) -> list[Any]:
        if self.dated:
            return self.due(conn, after, self.batch, now)
        return self.due(conn, after, self.batch)

    def _decide_and_save(
        self,
        repo: Repository,
        key: str,
        aggregate: Any,
        command: domain.Command | None,
        now: datetime,
    ) -> list:
        events: list[domain.Event] = []
        if command is not None:
            with domain_errors():
                events = aggregate.decide(command, now, *self.args)
        if not events:
            if self.refresh_idle and repo.read_models is not None:
                repo.read_models.save(repo.conn, [aggregate])
            return []
        ids = self.event_ids(aggregate, events) if self.event_ids else None
        command_id = domain.derived_id("sweep", self.name, key, aggregate.version)
        return repo.save(key, aggregate, events, ids, command_id=command_id)
