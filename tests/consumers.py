"""A small source service and a consumer of it, for kernel tests of event consumption
(catch-up, outages): real nameko containers on the real broker.

``HistorySource`` has its own store and relay and appends one event per stream per call
(``record_round``); ``Reader`` consumes it and writes one effect row per applied event, in the
order applied, so a test can check each event was applied once and each stream in order.
History can be written straight into a source's store (``write_history``) before it runs.
"""

from __future__ import annotations

from contextlib import contextmanager

import eventlet
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from infra.bus.dependencies import ServiceDatabase
from infra.bus.entrypoints import IncomingEvent, rpc, subscribe
from infra.bus.relay import RELAY_NAME
from infra.eventstore import EventStore, NewEvent, SubjectKeys, make_engine, migrate
from infra.eventstore.crypto import Personal
from infra.eventstore.schema import events, relay_state
from infra.eventstore.store import make_meta, to_db, utcnow
from infra.keys import master_key
from infra.service import KernelService
from infra.settings import nameko_config

SOURCE = "history"

effects_md = MetaData()
effects = Table(
    "effects",
    effects_md,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # order of application
    Column("event_id", String(36), nullable=False),  # deliberately not unique
    Column("stream_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
)


class HistorySource(KernelService):
    name = SOURCE
    db = ServiceDatabase()

    @rpc
    def record_round(self, streams: list[str], expected: int) -> int:
        """One more event on each stream, in one bulk append."""
        results = self.db.store.append_many(
            self.db.conn,
            [(s, expected, [NewEvent("Happened", {"v": expected + 1})]) for s in streams],
            self.ctx.meta(),
        )
        return sum(len(r) for r in results if isinstance(r, list))


class Reader(KernelService):
    name = "reader"
    db = ServiceDatabase(relay=False)

    @subscribe(SOURCE, max_attempts=3)
    def on_history(self, event: IncomingEvent) -> None:
        self.db.conn.execute(
            insert(effects).values(
                event_id=event.event_id, stream_id=event.stream_id, version=event.version
            )
        )


@contextmanager
def two_databases(postgres):
    """The source's and the consumer's PostgreSQL databases, dropped afterwards."""
    urls = [postgres.create_database(), postgres.create_database()]
    try:
        yield urls
    finally:
        for url in urls:
            postgres.drop_database(url)


@contextmanager
def running(cls: type, amqp_uri: str, db_url: str):
    config = {**nameko_config(cls.name), "AMQP_URI": amqp_uri, "SESP_DATABASE_URL": db_url}
    container = ServiceContainer(cls, config)
    container.start()
    try:
        yield container
    finally:
        with eventlet.Timeout(60):
            container.stop()


def write_history(
    url: str, service: str, rounds: list[list[str]], personal: bool = False, published=False
) -> None:
    """Append one event per named stream per round, straight into the store (before the
    service runs), one bulk append per round. ``published``: as if the relay had published
    it all long ago, when no consumer listened (else the relay publishes it when the service
    starts, to no queue either)."""
    engine = make_engine(url)
    migrate(engine)
    store = EventStore(engine.dialect.name, SubjectKeys(master_key(service)))
    versions: dict[str, int] = {}
    try:
        for streams in rounds:
            appends = []
            for s in streams:
                v = versions.get(s, 0)
                data = {"v": v + 1, "who": Personal(s, "张三")} if personal else {"v": v + 1}
                appends.append((s, v, [NewEvent("Happened", data)]))
                versions[s] = v + 1
            with engine.begin() as conn:
                store.append_many(conn, appends, make_meta())
        if published:
            with engine.begin() as conn:
                head = conn.execute(select(func.max(events.c.position))).scalar_one()
                conn.execute(
                    insert(relay_state).values(
                        name=RELAY_NAME, position=head, updated_at=to_db(utcnow())
                    )
                )
    finally:
        engine.dispose()


def reader_engine(url: str):
    engine = make_engine(url)
    migrate(engine)
    effects_md.create_all(engine)
    return engine


def applied(engine) -> list[tuple[str, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(effects).order_by(effects.c.seq)).all()
    return [(r.event_id, r.stream_id, r.version) for r in rows]


def count(engine, table=effects) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def health(amqp_uri: str) -> dict:
    with ClusterRpcProxy({"AMQP_URI": amqp_uri, "serializer": "json"}, timeout=30) as proxy:
        [consumer] = proxy.reader.health()["consumers"]
    return consumer
