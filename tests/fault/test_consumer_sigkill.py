"""A consumer killed with SIGKILL mid-stream loses nothing and applies nothing twice."""

import eventlet
from sqlalchemy import create_engine, text

from infra.testing import wait_until

TOTAL = 1000


def _stats(engine):
    with engine.connect() as c:
        try:
            return c.execute(
                text("SELECT count(*), coalesce(sum(applied), 0) FROM equipment_register")
            ).one()
        except Exception:
            return (0, 0)


def test_sigkill_mid_stream_applies_every_event_exactly_once(stacks):
    stack = stacks(["licensing", "insurance"], db="postgresql", clock=None)
    insurance = stack.processes["insurance"]
    ins = create_engine(stack.db_urls["insurance"])
    try:

        def register(chunk):
            with stack.rpc() as rpc:
                for i in chunk:
                    rpc.licensing.register_equipment(f"3110{i:05d}2014{i:05d}", "310104")

        pool = eventlet.GreenPool(4)
        producers = [pool.spawn(register, range(k, TOTAL, 4)) for k in range(4)]

        # Kill the consumer once it is well into the stream, while events keep coming.
        wait_until(lambda: _stats(ins)[0] >= 200, timeout=60, what="200 applied events")
        insurance.kill()
        killed_at = _stats(ins)[0]
        assert killed_at < TOTAL, "the kill must land in the middle of the stream"

        for p in producers:
            p.wait()
        insurance.start()
        stack.wait_ready(["insurance"])
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
