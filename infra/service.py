"""The service base of the kit: what every SESP service has and inherits.

A service subclasses ``KernelService`` and declares ``name``, ``db``, ``kinds`` (its aggregate
kinds) and ``read_models``; it inherits a readiness ``ping``, ``health`` (its consumers'
counters), ``read_all`` and ``read_stream`` (history for catch-up subscriptions and for
consumers that missed some), ``replay`` (rebuild every read model from the service's own
events, with progress for ``sesp replay``), ``read_model_digest`` (to compare a rebuild with
the live state), ``relay_status`` (the outbox relay's lag and errors) and ``repository()``
(aggregates on this worker's unit of work).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import eventlet
from nameko.extensions import DependencyProvider
from sqlalchemy import func, select

from infra import erasure, keys, settings
from infra.bus import consumer_state
from infra.bus.context import RequestContext
from infra.bus.dependencies import (
    ClockProvider,
    UnitOfWork,
    prune_command_results,
    service_database,
)
from infra.bus.entrypoints import rpc, timer
from infra.bus.relay import RELAY_NAME, OutboxRelay
from infra.bus.relay_status import relay_status
from infra.bus.subscriber import EventSubscriber
from infra.errors import Conflict, register_remote_errors
from infra.eventstore.schema import events, parked, relay_state
from infra.eventstore.store import to_db
from infra.readmodels import ReadModels
from infra.rebuild import RebuildSuperseded
from infra.repository import Kinds, Repository

register_remote_errors()


class ReplayProgress(DependencyProvider):
    """How far a rebuild of the read models has got, shared by the service's workers, so
    ``sesp replay`` can draw a progress bar while the ``replay`` RPC works. (Not ``start``
    and ``stop``: those are every extension's lifecycle hooks.)"""

    def setup(self) -> None:
        self.state = {"run": 0, "running": False, "done": 0, "total": 0}

    def get_dependency(self, worker_ctx) -> ReplayProgress:
        return self

    def begin(self, total: int) -> None:
        self.state = {"run": self.state["run"] + 1, "running": True, "done": 0, "total": total}

    def at(self, done: int, total: int | None = None) -> None:
        self.state["done"] = done
        if total is not None:
            self.state["total"] = total

    def end(self) -> None:
        self.state["running"] = False


class OutboxAccess(DependencyProvider):
    """This process's outbox relay (``None`` when the service runs none), for
    ``relay_status``: whether it is the active one, and an error it could not record."""

    def get_dependency(self, worker_ctx) -> OutboxRelay | None:
        db = service_database(self.container)
        return db.relay if db is not None else None


class SubjectKey(DependencyProvider):
    """The key that turns a person's ID number into a data-subject id (never the number
    itself), derived from the service's master key."""

    def setup(self) -> None:
        service = self.container.service_name
        self.key = keys.subject_key(service)

    def get_dependency(self, worker_ctx) -> bytes:
        return self.key


class Subscriptions(DependencyProvider):
    """The service's event subscribers, for ``health``: their counters live in the
    entrypoints, not in any worker."""

    def get_dependency(self, worker_ctx) -> list[EventSubscriber]:
        return sorted(
            (e for e in self.container.entrypoints if isinstance(e, EventSubscriber)),
            key=lambda e: e.method_name,
        )


# Most events ``read_all`` serves per call: a page is one RPC reply, kept well below a megabyte.
READ_ALL_LIMIT = 1000


class KernelService:
    """Base for service classes. Subclasses set ``name`` and
    ``db: UnitOfWork = ServiceDatabase(...)``: nameko hands each worker a UnitOfWork in the
    provider's place, so that is what methods see."""

    name = "kernel"
    db: UnitOfWork  # declared only: each subclass sets its own provider
    kinds: Kinds = Kinds()
    read_models: ReadModels | None = None
    clock = ClockProvider()
    ctx = RequestContext()
    progress = ReplayProgress()
    outbox = OutboxAccess()
    subject_key = SubjectKey()
    subscriptions = Subscriptions()

    def repository(self) -> Repository:
        """This worker's aggregates: events, rows and bookkeeping commit together."""
        return Repository(
            self.db, self.kinds, self.read_models, self.ctx.meta(), subject_key=self.subject_key
        )

    @timer(interval=3600)
    def forget_old_command_results(self) -> None:
        """Hourly: drop recorded command answers older than ``SESP_COMMAND_RESULTS_DAYS``."""
        days = settings.command_results_days()
        cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)
        prune_command_results(self.db.conn, cutoff)

    @timer(interval=3600)
    def forget_old_processed_events(self) -> None:
        """Hourly: drop the ids of events this service's consumers applied more than
        ``SESP_PROCESSED_EVENTS_DAYS`` ago (``consumer_state.prune_processed``)."""
        days = settings.processed_events_days()
        cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)
        consumer_state.prune_processed(self.db.engine, cutoff)

    @rpc
    def ping(self) -> dict:
        """Readiness probe used by the gateway's /readyz; ``store`` (the database, without its
        password) lets ``sesp`` say which store a command reached."""
        store = self.db.engine.url.render_as_string(hide_password=True)
        return {"service": self.name, "ok": True, "store": store}

    @rpc
    def erase_person(self, presented: str) -> dict:
        """Erase the person ``presented`` names (an ID number, or a data-subject id): delete
        the data keys of the subjects it maps to here (``infra.erasure``). ``erased``: the
        subject ids whose keys this service held (none: it holds no data of the person)."""
        now = to_db(self.db.store.clock())
        erased = erasure.erase(self.db.conn, self.db.store.keys, presented, self.subject_key, now)
        self.db.commit()
        scrubbed = erasure.scrub(self.db.engine) if erased else True
        return {"service": self.name, "erased": erased, "scrubbed": scrubbed}

    @rpc
    def health(self) -> dict:
        """Liveness plus each event consumer's counters: catch-up state and position, events
        applied, held and dead-lettered, outage retries (waits on the database, the broker or
        the source, which never count as attempts), handler failures, parked streams. Answers
        during a database outage (it reads no table), so it shows one while it lasts."""
        return {
            "service": self.name,
            "ok": True,
            "consumers": [sub.health() for sub in self.subscriptions],
        }

    @rpc
    def read_all(self, after_position: int = 0, limit: int = 500) -> dict:
        """This service's published events after a global position, in position order, as
        published messages (personal fields stay encrypted): history for catch-up
        subscriptions.

        Only events the outbox relay has passed (its recorded position, the ``horizon``): the
        relay's tailer steps over a missing position only once no transaction can still fill
        it, so no event can commit later below a position served here. Left out, as the relay
        leaves them out: events the service recorded from another service (``observed_from``:
        not its to publish) and events an operator parked (``sesp relay skip``: never
        published, and possibly unreadable). ``next`` is the position to ask after next time
        (it moves past left-out events too); ``head`` is the newest position in the store when
        this call read it: a consumer that bound its queue before the call has everything up
        to ``head`` once it has read that far, and everything after it from the queue.
        """
        conn = self.db.conn
        limit = max(1, min(int(limit), READ_ALL_LIMIT))
        horizon = (
            conn.execute(
                select(relay_state.c.position).where(relay_state.c.name == RELAY_NAME)
            ).scalar()
            or 0
        )
        head = conn.execute(select(func.max(events.c.position))).scalar() or 0
        rows = (
            conn.execute(
                select(events, parked.c.position.label("parked_position"))
                .outerjoin(parked, parked.c.event_id == events.c.event_id)
                .where(events.c.position > after_position, events.c.position <= horizon)
                .order_by(events.c.position)
                .limit(limit)
            )
            .mappings()
            .all()
        )
        published = [
            self.db.store._to_stored(conn, r, decrypt=False)
            for r in rows
            if r["parked_position"] is None
        ]
        return {
            "events": [
                ev.to_message(self.name) for ev in published if not ev.meta.get("observed_from")
            ],
            "next": rows[-1]["position"] if rows else after_position,
            "horizon": horizon,
            "head": head,
        }

    @rpc
    def read_stream(self, stream_id: str, after_version: int = 0) -> list[dict]:
        """Events of one stream as published messages (personal fields stay encrypted):
        lets a consumer that missed history fetch it."""
        return [
            ev.to_message(self.name)
            for ev in self.db.store.read_stream(
                self.db.conn, stream_id, after_version, decrypt=False
            )
        ]

    @rpc
    def replay(self) -> dict:
        """Rebuild every read model from this service's own events (the live path's row
        functions), reporting progress to ``replay_progress``."""
        if self.read_models is None:
            return {"events": 0}

        def pause(done: int, total: int) -> None:
            self.progress.at(done, total)
            eventlet.sleep()  # let replay_progress and other workers answer

        # Not on this worker's unit of work: the rebuild runs a short transaction per batch
        # (infra.rebuild), so writers go on and readers see the old rows until it is done.
        engine = self.db.engine
        with engine.connect() as conn:
            total = self.db.store.count(conn)
        self.progress.begin(total)
        try:
            rebuilt = self.read_models.rebuild(
                engine, self.db.store, shadow=f"{self.name}_rebuild", progress=pause
            )
        except RebuildSuperseded as exc:
            raise Conflict(str(exc)) from None
        finally:
            self.progress.end()
        self.progress.at(rebuilt.events, rebuilt.events)
        return {"events": rebuilt.events}

    @rpc
    def read_model_digest(self) -> dict:
        """A digest of every read model, to compare a rebuild with the live state."""
        if self.read_models is None:
            return {}
        return self.read_models.digest(self.db.conn)

    @rpc
    def relay_status(self) -> dict:
        """The outbox relay: position, lag (events and seconds behind), whether it waits at a
        gap, its current error and the event it is stuck on (``infra.bus.relay_status``), and
        ``active_here`` (this replica runs the active relay). Read by the gateway's
        ``/metrics`` and ``/readyz``."""
        status = relay_status(self.db.conn)
        relay = self.outbox
        active = relay is not None and relay.active
        if active and relay is not None and status["error"] is None and relay.last_error:
            # The database did not take the record (it may be what fails): say it anyway.
            status.update(error=relay.last_error, failures=relay.failures)
        return {"service": self.name, "active_here": active, **status}

    @rpc
    def replay_progress(self) -> dict:
        """``{"run", "running", "done", "total"}`` of the current (or last) rebuild of the
        read models; ``run`` counts rebuilds since the process started."""
        return dict(self.progress.state)
