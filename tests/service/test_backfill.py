"""A consumer that starts after its source has history applies it, in order, before what comes
next.

The source is a real service with its own store and relay; the consumer is started only after
the first events were published (they were unroutable then: no queue was bound). Its catch-up
subscription reads versions 1..n-1 over the source's ``read_all`` RPC; the next event, from
the queue, is applied after them (``test_catch_up`` covers catch-up at volume).
"""

from __future__ import annotations

import eventlet
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from infra.bus.dependencies import ServiceDatabase
from infra.bus.entrypoints import IncomingEvent, rpc, subscribe
from infra.eventstore import NewEvent, make_engine, migrate
from infra.service import KernelService
from infra.settings import nameko_config
from infra.testing import wait_until

applied_md = MetaData()
applied = Table(
    "applied",
    applied_md,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("stream_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
)


class LateSource(KernelService):
    name = "latesource"
    db = ServiceDatabase()

    @rpc
    def record(self, stream_id: str, expected_version: int) -> int:
        return len(
            self.db.append(
                stream_id,
                expected_version,
                [NewEvent("Recorded", {"n": expected_version + 1})],
                self.ctx.meta(),
            )
        )


class LateConsumer(KernelService):
    name = "lateconsumer"
    db = ServiceDatabase(relay=False)

    @subscribe("latesource", max_attempts=6)
    def on_event(self, event: IncomingEvent) -> None:
        self.db.conn.execute(
            insert(applied).values(stream_id=event.stream_id, version=event.version)
        )


def test_a_late_consumer_backfills_history_in_order(amqp_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("SESP_DATA_DIR", str(tmp_path))
    src_url = f"sqlite:///{tmp_path / 'source.db'}"
    dst_url = f"sqlite:///{tmp_path / 'consumer.db'}"
    dst = make_engine(dst_url)
    migrate(dst)
    applied_md.create_all(dst)
    source = ServiceContainer(
        LateSource,
        {**nameko_config("latesource"), "AMQP_URI": amqp_uri, "SESP_DATABASE_URL": src_url},
    )
    source.start()
    consumer = None
    try:
        with ClusterRpcProxy({"AMQP_URI": amqp_uri}) as call:
            for v in range(3):
                call.latesource.record("thing-1", v)
            eventlet.sleep(1.0)  # published while nobody listens: unroutable, recorded
            consumer = ServiceContainer(
                LateConsumer,
                {
                    **nameko_config("lateconsumer"),
                    "AMQP_URI": amqp_uri,
                    "SESP_DATABASE_URL": dst_url,
                },
            )
            consumer.start()
            call.latesource.record("thing-1", 3)

        def versions():
            with dst.connect() as c:
                return [r.version for r in c.execute(select(applied).order_by(applied.c.seq))]

        wait_until(lambda: len(versions()) == 4, timeout=30, what="history backfilled")
        assert versions() == [1, 2, 3, 4]
    finally:
        with eventlet.Timeout(30):
            if consumer is not None:
                consumer.stop()
            source.stop()
        dst.dispose()
