"""Loading and saving aggregates: fold a stream, append decided events, update read models.

One ``Repository`` per worker, on the worker's unit of work, so events, read-model rows and
sequence numbers commit together. Personal data (the ``person`` key of an event) is wrapped in
``Personal`` per data subject before it is appended, so the store encrypts it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from infra.bus.dependencies import UnitOfWork
from infra.errors import Conflict, Invalid, NotFound
from infra.eventstore import ERASED, NewEvent, Personal, StoredEvent
from services.licensing import projections
from services.licensing.domain import application as da
from services.licensing.domain import audit as dau
from services.licensing.domain import common as dc
from services.licensing.domain import delegation as dd
from services.licensing.domain import equipment as de
from services.licensing.domain import licence as dl

EVENT_NAMESPACE = uuid.UUID("6b1f3c52-3e0e-4a8e-9a53-0d7c2b8f1a10")


@dataclass(frozen=True)
class Kind:
    prefix: str
    cls: type
    types: dict[str, type[dc.Event]]


KINDS: dict[type, Kind] = {
    da.Application: Kind("application-", da.Application, da.EVENT_TYPES),
    dd.Delegation: Kind("delegation-", dd.Delegation, dd.EVENT_TYPES),
    dl.Licence: Kind("licence-", dl.Licence, dl.EVENT_TYPES),
    de.Equipment: Kind("equipment-", de.Equipment, de.EVENT_TYPES),
    dau.AuditPlan: Kind("audit-", dau.AuditPlan, dau.EVENT_TYPES),
    dau.Inspector: Kind("inspector-", dau.Inspector, dau.EVENT_TYPES),
}
PREFIXES = {k.prefix: k for k in KINDS.values()}


def kind_of_stream(stream_id: str) -> Kind | None:
    for prefix, kind in PREFIXES.items():
        if stream_id.startswith(prefix):
            return kind
    return None


def event_id_for(*parts: Any) -> str:
    """A deterministic event id: the same fact noticed twice (two sweeps) is stored once."""
    return str(uuid.uuid5(EVENT_NAMESPACE, "/".join(str(p) for p in parts)))


def actor_name(actor: dict[str, Any]) -> str:
    """How an actor appears in timelines: ``role:token id`` (who acted, attributable)."""
    return f"{actor.get('role', 'system')}:{actor.get('id', 'system')}"


def to_domain_event(kind: Kind, ev: StoredEvent) -> dc.Event:
    # Events written before the domain recorded ``at``/``actor`` (the walking skeleton) get
    # them from the envelope.
    data = {"at": ev.occurred_at.isoformat(), "actor": "system", **ev.data}
    return kind.types[ev.type].from_data(data)


@contextlib.contextmanager
def domain_errors() -> Iterator[None]:
    """Translate the domain's errors to the kernel's (HTTP 409, 422, 404 at the gateway)."""
    try:
        yield
    except dc.Invalid as exc:
        raise Invalid(exc.detail, exc.errors) from None
    except dc.NotKnown as exc:
        raise NotFound(exc.detail) from None
    except dc.RuleConflict as exc:
        raise Conflict(exc.detail) from None


class Repository:
    def __init__(
        self,
        uow: UnitOfWork,
        meta: dict[str, Any],
        subject_key: bytes,
        licence_rules: dl.LicenceRules,
    ):
        self.uow = uow
        self.meta = meta
        self.subject_key = subject_key
        self.licence_rules = licence_rules

    @property
    def conn(self):
        return self.uow.conn

    # --- personal data ---

    def subject_id(self, id_number: str) -> str:
        """The data subject of a person: a keyed hash of the ID number (not reversible
        without the service key, stable across applications and licences)."""
        digest = hmac.new(self.subject_key, id_number.encode(), hashlib.sha256).hexdigest()
        return f"person-{digest[:32]}"

    def wrap_personal(self, data: dict[str, Any]) -> dict[str, Any]:
        person = data.get("person")
        if not isinstance(person, dict):
            return data
        id_number = person.get("id_number")
        if not isinstance(id_number, str) or id_number == ERASED:
            return data
        subject = self.subject_id(id_number)
        wrapped = {k: v if v == ERASED else Personal(subject, v) for k, v in person.items()}
        return {**data, "person": wrapped}

    # --- aggregates ---

    def load(
        self,
        cls: type,
        key: str,
        *,
        must_exist: str | None = None,
        as_of: datetime | None = None,
    ) -> Any:
        """Fold ``<prefix><key>``; ``must_exist`` names the object for a 404. ``as_of`` folds
        only the events that occurred up to then (a point-in-time read, never saved)."""
        kind = KINDS[cls]
        aggregate = cls()
        for ev in self.uow.read_stream(kind.prefix + key, until=as_of):
            aggregate.apply(to_domain_event(kind, ev))
        if must_exist and not aggregate.version:
            when = f" on {as_of.isoformat()}" if as_of else ""
            raise NotFound(f"{must_exist} {key} not found{when}")
        return aggregate

    def save(
        self,
        key: str,
        aggregate: Any,
        events: list[dc.Event],
        event_ids: Sequence[str | None] | None = None,
    ) -> list[StoredEvent]:
        """Append ``events`` after the version the aggregate was loaded at, fold them in, and
        update its read-model row."""
        if not events:
            return []
        kind = KINDS[type(aggregate)]
        new = [
            self._new_event(e, event_ids[i] if event_ids else None) for i, e in enumerate(events)
        ]
        stored = self.uow.append(kind.prefix + key, aggregate.version, new, self.meta)
        if not stored:  # every event id was stored already: a retried fact, nothing new
            return []
        for e in events:
            aggregate.apply(e)
        projections.save_row(self.conn, aggregate, self.licence_rules)
        return stored

    def decide_and_save(
        self,
        key: str,
        aggregate: Any,
        command: dc.Command,
        now: datetime,
        *args: Any,
        event_ids: list[str] | None = None,
    ) -> list[dc.Event]:
        with domain_errors():
            events = aggregate.decide(command, now, *args)
        self.save(key, aggregate, events, event_ids)
        return events

    def append_fact(self, stream: str, event: dc.Event, event_id: str | None = None) -> bool:
        """Append a standalone fact (no aggregate rules) at the stream's head."""
        stored = self.uow.append(stream, None, [self._new_event(event, event_id)], self.meta)
        return bool(stored)

    def _new_event(self, event: dc.Event, event_id: str | None) -> NewEvent:
        """``event`` as appended: personal data wrapped, under ``event_id`` if given (a
        deterministic id), else a fresh one."""
        data = self.wrap_personal(event.to_data())
        # When it happened by the service's clock (injectable): what as_of reads use.
        occurred_at = event.at if isinstance(event.at, datetime) else None
        if event_id:
            return NewEvent(event.type, data, event_id=event_id, occurred_at=occurred_at)
        return NewEvent(event.type, data, occurred_at=occurred_at)


def rebuild(conn, store, licence_rules: dl.LicenceRules, pause=None) -> int:
    """Rebuild every read model from the store with the live path's row functions.
    ``pause(events_done)`` is called every 500 events (to yield and report progress)."""
    from sqlalchemy import insert

    projections.clear(conn)
    aggregates: dict[str, Any] = {}
    n = 0
    for ev in store.iter_all(conn):
        n += 1
        if pause is not None and n % 500 == 0:
            pause(n)
        if ev.type == "RiskFactRecorded":
            d = ev.data
            conn.execute(
                insert(projections.risk_facts).values(
                    fact_id=d["fact_id"],
                    uscc=d["uscc"],
                    type=d["fact_type"],
                    occurred_on=date.fromisoformat(d["occurred_on"]),
                    grade=d.get("grade"),
                )
            )
            continue
        kind = kind_of_stream(ev.stream_id)
        if kind is None or ev.type not in kind.types:
            continue
        aggregate = aggregates.get(ev.stream_id)
        if aggregate is None:
            aggregate = aggregates[ev.stream_id] = kind.cls()
        aggregate.apply(to_domain_event(kind, ev))
    for i, aggregate in enumerate(aggregates.values()):
        if pause is not None and i % 500 == 0:
            pause(n)
        projections.save_row(conn, aggregate, licence_rules)
    return n
