"""A consumer killed with SIGKILL mid-stream loses nothing and applies nothing twice."""

import eventlet
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text

from infra.testing import wait_until
from tests.e2e.helpers import rpc_config, running, wait_for_ping

TOTAL = 1000


def _stats(engine):
    with engine.connect() as c:
        try:
            return c.execute(
                text("SELECT count(*), coalesce(sum(applied), 0) FROM equipment_register")
            ).one()
        except Exception:
            return (0, 0)


def test_sigkill_mid_stream_applies_every_event_exactly_once(amqp_uri, postgres, tmp_path):
    lic_db, ins_db = postgres.create_database(), postgres.create_database()
    base = {"SESP_AMQP_URI": amqp_uri, "SESP_DATA_DIR": str(tmp_path)}
    services = {
        "licensing": {**base, "SESP_LICENSING_DATABASE_URL": lic_db},
        "insurance": {**base, "SESP_INSURANCE_DATABASE_URL": ins_db},
    }
    ins = create_engine(ins_db)
    try:
        with running(services, tmp_path, amqp_uri) as procs:

            def register(chunk):
                with ClusterRpcProxy(rpc_config(amqp_uri)) as rpc:
                    for i in chunk:
                        rpc.licensing.register_equipment(f"3110{i:05d}2014{i:05d}", "310104")

            pool = eventlet.GreenPool(4)
            producers = [pool.spawn(register, range(k, TOTAL, 4)) for k in range(4)]

            # Kill the consumer once it is well into the stream, while events keep coming.
            wait_until(lambda: _stats(ins)[0] >= 200, timeout=60, what="200 applied events")
            procs["insurance"].kill()
            killed_at = _stats(ins)[0]
            assert killed_at < TOTAL, "the kill must land in the middle of the stream"

            for p in producers:
                p.wait()
            procs["insurance"].start()
            wait_for_ping(amqp_uri, "insurance")
            wait_until(lambda: _stats(ins)[0] == TOTAL, timeout=120, what="all events applied")
            eventlet.sleep(1.0)  # let any redelivery arrive before we count

            count, applied = _stats(ins)
            assert count == TOTAL
            assert applied == TOTAL  # each registration took effect exactly once
            with ins.connect() as c:
                processed = c.execute(text("SELECT count(*) FROM processed_events")).scalar()
            assert processed == TOTAL
    finally:
        ins.dispose()
        postgres.drop_database(lic_db)
        postgres.drop_database(ins_db)
