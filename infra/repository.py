"""Loading and saving aggregates: fold a stream, append what was decided, update read models.

A service declares its aggregate ``Kinds`` (stream prefix, class, event types) and its
``ReadModels`` (``infra.readmodels``); one ``Repository`` per worker, on the worker's unit of
work, so events, read-model rows and sequence numbers commit together.

- ``load`` folds a stream (from its latest snapshot when the kind takes snapshots; stored data
  goes through the store's upcasters); ``as_of`` folds only what had occurred by then.
- ``save`` appends after the version the aggregate was loaded at (a concurrent writer makes it
  a ``ConcurrencyError``, HTTP 409), folds the events in and writes the aggregate's rows.
- Event ids derive from a command id when one is given: the same command retried appends
  nothing (the store ignores event ids it holds already).
- ``domain_errors`` translates the domain's refusals into the kernel's errors, once, here.
- Personal data: a ``person`` object with an ``id_number`` in an event's data is wrapped per
  data subject (``Personal``) before it is appended, so the store encrypts it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from infra import domain, errors
from infra.eventstore import ERASED, ConcurrencyError, NewEvent, Personal, StoredEvent

if TYPE_CHECKING:
    from infra.bus.dependencies import UnitOfWork
    from infra.readmodels import ReadModels

A = TypeVar("A", bound=Any)


@dataclass(frozen=True)
class Kind(Generic[A]):
    """An aggregate type as stored: streams ``<prefix><key>`` of ``types`` folded into ``cls``.
    ``snapshots``: load from the latest snapshot (the aggregate must be a dataclass whose
    fields ``infra.domain.encode`` can store)."""

    prefix: str
    cls: type[A]
    types: Mapping[str, type[domain.Event]]
    snapshots: bool = False

    def stream(self, key: str) -> str:
        return self.prefix + key

    def key_of(self, stream_id: str) -> str:
        return stream_id.removeprefix(self.prefix)

    def event(self, ev: StoredEvent) -> domain.Event:
        """A stored event as the domain's event. Events stored without ``at``/``actor`` (older
        ones) take them from the envelope."""
        data = {"at": ev.occurred_at.isoformat(), "actor": domain.SYSTEM_ACTOR, **ev.data}
        return self.types[ev.type].from_data(data)


class Kinds:
    """The aggregate kinds of one service, found by class or by stream id."""

    def __init__(self, *kinds: Kind):
        self.by_class: dict[type, Kind] = {k.cls: k for k in kinds}
        # Longest prefix first, so "licence-" never shadows "licence-renewal-".
        self._by_prefix = sorted(kinds, key=lambda k: -len(k.prefix))

    def __getitem__(self, cls: type) -> Kind:
        return self.by_class[cls]

    def __iter__(self) -> Iterator[Kind]:
        return iter(self.by_class.values())

    def of_stream(self, stream_id: str) -> Kind | None:
        for kind in self._by_prefix:
            if stream_id.startswith(kind.prefix):
                return kind
        return None


@contextlib.contextmanager
def domain_errors() -> Iterator[None]:
    """Translate the domain's refusals to the kernel's errors (HTTP 422, 404, 409): the one
    table from domain refusal to kernel error (the gateway has the one from kernel error to
    HTTP)."""
    try:
        yield
    except domain.Invalid as exc:
        raise errors.Invalid(exc.detail, exc.errors) from None
    except domain.NotKnown as exc:
        raise errors.NotFound(exc.detail) from None
    except domain.Stale as exc:
        raise errors.Stale(exc.detail) from None
    except domain.RuleConflict as exc:
        raise errors.Conflict(exc.detail) from None


def kernel_error(exc: domain.Refused | ConcurrencyError) -> errors.DomainError:
    """The kernel's error for a refusal, for answers that carry one result per item."""
    try:
        with domain_errors():
            raise exc
    except errors.DomainError as translated:
        return translated
    except ConcurrencyError:
        return errors.Conflict("the object was changed concurrently")


class Repository:
    """Aggregates of one service on one worker's unit of work."""

    def __init__(
        self,
        uow: UnitOfWork,
        kinds: Kinds,
        read_models: ReadModels | None,
        meta: dict[str, Any],
        *,
        subject_key: bytes | None = None,
    ):
        self.uow, self.kinds, self.read_models = uow, kinds, read_models
        self.meta, self.subject_key = meta, subject_key
        # The head each loaded or saved stream had: (version, hash of that event). A save at
        # that version passes the hash, so the store appends without reading the head again.
        self._heads: dict[str, tuple[int, str]] = {}

    @property
    def conn(self):
        return self.uow.conn

    def new_id(self, what: str) -> str:
        """The id of a new ``what`` (an application, a plan) the current command creates:
        derived from the command id when there is one, so a repeat or a concurrent twin of the
        command names the same object (and loses on the store instead of creating another)."""
        command_id = getattr(self.uow, "command_id", None)
        return domain.derived_id("new", what, command_id) if command_id else str(uuid.uuid4())

    @property
    def actor(self) -> str:
        """Who gives this worker's commands, as events record it: ``role:token id``."""
        actor = self.meta.get("actor") or {}
        return f"{actor.get('role', domain.SYSTEM_ACTOR)}:{actor.get('id', domain.SYSTEM_ACTOR)}"

    # --- personal data ------------------------------------------------------------------

    def subject_id(self, id_number: str) -> str:
        """The data subject of a person: a keyed hash of the ID number (not reversible
        without the service's key, stable across the person's records)."""
        if self.subject_key is None:
            raise RuntimeError("this service keeps no personal data (no subject key)")
        digest = hmac.new(self.subject_key, id_number.encode(), hashlib.sha256).hexdigest()
        return f"person-{digest[:32]}"

    def wrap_personal(self, data: dict[str, Any]) -> dict[str, Any]:
        person = data.get("person")
        if not isinstance(person, dict) or self.subject_key is None:
            return data
        id_number = person.get("id_number")
        if not isinstance(id_number, str) or id_number == ERASED:
            return data
        subject = self.subject_id(id_number)
        wrapped = {k: v if v == ERASED else Personal(subject, v) for k, v in person.items()}
        return {**data, "person": wrapped}

    # --- loading ------------------------------------------------------------------------

    def load(
        self,
        cls: type[A],
        key: str,
        *,
        must_exist: str | None = None,
        as_of: datetime | None = None,
    ) -> A:
        """Fold ``<prefix><key>``; ``must_exist`` names the object for a 404. ``as_of`` folds
        only the events that occurred up to then (a point-in-time read, never saved)."""
        kind = self.kinds[cls]
        stream = kind.stream(key)
        aggregate, after = kind.cls(), 0
        if kind.snapshots and as_of is None:
            snap = self.uow.store.load_snapshot(self.conn, stream, kind.cls.__name__)
            if snap is not None:
                aggregate, after = domain.from_data(kind.cls, snap.state), snap.version
        last = None
        for last in self.uow.read_stream(stream, after, until=as_of):
            aggregate.apply(kind.event(last))
        if last is not None and as_of is None:
            self._heads[stream] = (last.version, last.hash)
        if must_exist and not aggregate.version:
            when = f" on {as_of.isoformat()}" if as_of else ""
            raise errors.NotFound(f"{must_exist} {key} not found{when}")
        return aggregate

    def load_many(self, cls: type[A], keys: Iterable[str]) -> dict[str, A]:
        """Many aggregates of one kind in a few queries (new ones come back empty, version 0);
        from their latest snapshots when the kind takes snapshots."""
        kind = self.kinds[cls]
        keys = list(keys)
        store, streams = self.uow.store, [kind.stream(k) for k in keys]
        snaps = (
            store.load_snapshots(self.conn, streams, kind.cls.__name__) if kind.snapshots else {}
        )
        after = {stream: snap.version for stream, snap in snaps.items()}
        events_of = store.read_streams(self.conn, streams, after=after)
        out: dict[str, A] = {}
        for key, stream in zip(keys, streams, strict=True):
            snap = snaps.get(stream)
            aggregate = domain.from_data(kind.cls, snap.state) if snap else kind.cls()
            for ev in events_of.get(stream, ()):
                aggregate.apply(kind.event(ev))
            out[key] = aggregate
        return out

    # --- saving -------------------------------------------------------------------------

    def save(
        self,
        key: str,
        aggregate: Any,
        events: Sequence[domain.Event],
        event_ids: Sequence[str | None] | None = None,
        *,
        command_id: str | None = None,
    ) -> list[StoredEvent]:
        """Append ``events`` after the version the aggregate was loaded at, fold them in, and
        write its read-model rows. ``command_id``: derive the event ids from it."""
        if not events:
            return []
        kind = self.kinds[type(aggregate)]
        old = aggregate.version
        stream = kind.stream(key)
        new = self._new_events(events, event_ids, command_id, stream)
        head = self._heads.get(stream)
        stored = self.uow.append(
            stream, old, new, self.meta, head_hash=head[1] if head and head[0] == old else None
        )
        if not stored:  # every event id was stored already: a retried command, nothing new
            return []
        self._heads[stream] = (stored[-1].version, stored[-1].hash)
        for event in events:
            aggregate.apply(event)
        self._after_save(kind, key, old, aggregate)
        return stored

    def save_many(
        self,
        changes: Sequence[tuple[str, Any, Sequence[domain.Event]]],
        *,
        command_id: str | None = None,
        command_ids: Sequence[str | None] | None = None,
        event_ids: Sequence[Sequence[str | None] | None] | None = None,
    ) -> list[list[StoredEvent] | ConcurrencyError]:
        """``save`` for many aggregates in a few statements (bulk commands); each change
        succeeds or fails (``ConcurrencyError``) on its own. Read models are written for the
        successful ones in one call. Event ids derive from ``command_id`` (one command over
        many aggregates), or per change from ``command_ids`` or ``event_ids`` (as ``save``
        takes them: a sweep's bulk run stores what one ``save`` per aggregate would)."""
        appends, olds = [], []
        for i, (key, aggregate, events) in enumerate(changes):
            kind = self.kinds[type(aggregate)]
            stream = kind.stream(key)
            olds.append(aggregate.version)
            ids = event_ids[i] if event_ids else None
            derive_from = command_ids[i] if command_ids else command_id
            appends.append(
                (stream, aggregate.version, self._new_events(events, ids, derive_from, stream))
            )
        written = self.uow.store.append_many(self.conn, appends, self.meta) if appends else []
        saved, taken = [], []
        for (key, aggregate, events), old, got in zip(changes, olds, written, strict=True):
            if isinstance(got, ConcurrencyError) or not got:
                continue
            for event in events:
                aggregate.apply(event)
            saved.append(aggregate)
            kind = self.kinds[type(aggregate)]
            if kind.snapshots and self.uow.store.snapshot_due(old, aggregate.version):
                taken.append((kind.stream(key), aggregate.version, domain.encode(aggregate)))
        self.uow.store.save_snapshots(self.conn, taken)
        if self.read_models is not None and saved:
            self.read_models.save(self.conn, saved)
        return written

    def decide_and_save(
        self,
        key: str,
        aggregate: Any,
        command: domain.Command,
        now: datetime,
        *args: Any,
        event_ids: Sequence[str | None] | None = None,
        command_id: str | None = None,
    ) -> list[domain.Event]:
        """``aggregate.decide(command, now, *args)`` with refusals translated, then ``save``.

        A command retried after it was applied (same ``command_id``) may be refused by the
        state it made (a notice cannot be unpinned twice): that refusal is no answer to a
        retry, which stores nothing and returns ``[]``."""
        try:
            with domain_errors():
                events = aggregate.decide(command, now, *args)
        except errors.DomainError:
            if command_id is not None and self.applied(key, aggregate, command_id):
                return []
            raise
        self.save(key, aggregate, events, event_ids, command_id=command_id)
        return events

    def applied(self, key: str, aggregate: Any, command_id: str) -> bool:
        """Whether the command ``command_id`` stored events on this aggregate's stream."""
        stream = self.kinds[type(aggregate)].stream(key)
        first = domain.derived_id("command", command_id, stream, 0)
        return any(ev.event_id == first for ev in self.uow.read_stream(stream))

    def append_fact(self, stream: str, event: domain.Event, event_id: str | None = None) -> bool:
        """Append a standalone fact (no aggregate rules) at the stream's head."""
        new = self._new_events([event], [event_id], None, stream)
        return bool(self.uow.append(stream, None, new, self.meta))

    # --- helpers ------------------------------------------------------------------------

    def _after_save(self, kind: Kind, key: str, old: int, aggregate: Any) -> None:
        if kind.snapshots and self.uow.store.snapshot_due(old, aggregate.version):
            self._snapshot(kind, key, aggregate)
        if self.read_models is not None:
            self.read_models.save(self.conn, [aggregate])

    def _snapshot(self, kind: Kind, key: str, aggregate: Any) -> None:
        state = domain.encode(aggregate)
        self.uow.store.save_snapshot(self.conn, kind.stream(key), aggregate.version, state)

    def _new_events(
        self,
        events: Sequence[domain.Event],
        event_ids: Sequence[str | None] | None,
        command_id: str | None,
        stream: str,
    ) -> list[NewEvent]:
        out = []
        for i, event in enumerate(events):
            event_id = event_ids[i] if event_ids else None
            if event_id is None and command_id is not None:
                # The command's n-th event on this stream: a retry derives the same ids.
                event_id = domain.derived_id("command", command_id, stream, i)
            data = self.wrap_personal(event.to_data())
            # When it happened by the service's clock (injectable): what as_of reads use.
            occurred_at = event.at if isinstance(event.at, datetime) else None
            if event_id:
                out.append(NewEvent(event.type, data, event_id=event_id, occurred_at=occurred_at))
            else:
                out.append(NewEvent(event.type, data, occurred_at=occurred_at))
        return out
