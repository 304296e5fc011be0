"""Insurance deployed after licensing registered equipment hears of every unit: its
subscription reads licensing's history (``read_all``) from its checkpoint before the queue
takes over, so one-event streams published while nobody listened are not lost. Its other
subscription, to the maintenance-credit service (not running here), waits for its source
without holding licensing's back."""

import amqp
import eventlet
import kombu

from infra.testing import ServiceProcess, wait_until

TOTAL = 2000
DISTRICT = "310104"
QUEUE = "evt-licensing--insurance.on_licensing_event"


def code(i: int) -> str:
    return f"3110{i:05d}2014{i:05d}"


def queue_exists(amqp_uri: str, name: str) -> bool:
    with kombu.Connection(amqp_uri) as conn:
        try:
            conn.channel().queue_declare(name, passive=True)
            return True
        except amqp.exceptions.NotFound:
            return False


def test_insurance_started_after_licensing_registered_2000_units_knows_every_one(stacks):
    stack = stacks(["licensing"])

    def register(chunk):
        with stack.rpc() as rpc:  # one proxy per green thread
            for i in chunk:
                rpc.licensing.register_equipment(code(i), DISTRICT)

    pool = eventlet.GreenPool(4)
    for k in range(4):
        pool.spawn(register, range(k, TOTAL, 4))
    pool.waitall()
    stack.wait_published(["licensing"])
    assert not queue_exists(stack.amqp_uri, QUEUE)  # published while nobody listened

    url = f"sqlite:///{stack.data_dir / 'insurance.db'}"
    env = {**stack.env, "SESP_INSURANCE_DATABASE_URL": url}
    stack.processes["insurance"] = ServiceProcess(
        "insurance", env, stack.data_dir / "insurance.log"
    ).start()  # the stack stops it with the others
    stack.wait_ready(["insurance"])

    with stack.rpc() as rpc:
        wait_until(
            lambda: rpc.insurance.register_stats()["elevators"] == TOTAL,
            timeout=180,
            what=f"insurance to know all {TOTAL} units",
        )
        wait_until(
            lambda: by_source(rpc)["licensing"]["catch_up"]["state"] == "live",
            what="the subscription live",
        )
        stats = rpc.insurance.register_stats()
        consumers = by_source(rpc)
        consumer = consumers["licensing"]
        first, last = rpc.insurance.equipment(code(0)), rpc.insurance.equipment(code(TOTAL - 1))

    assert stats == {"elevators": TOTAL, "applied": TOTAL}  # each registration once
    assert (first["district"], last["district"]) == (DISTRICT, DISTRICT)
    assert consumer["catch_up"]["events_read"] >= TOTAL
    assert (consumer["dead_lettered"], consumer["handler_failures"]) == (0, 0)
    assert consumer["consumer"] == "insurance.on_licensing_event"
    credit = consumers["maintenance_credit"]
    assert credit["catch_up"]["state"] != "live" and credit["catch_up"]["events_read"] == 0


def by_source(rpc) -> dict[str, dict]:
    """Insurance's consumers by source: exactly one per source service."""
    consumers = rpc.insurance.health()["consumers"]
    assert sorted(c["source"] for c in consumers) == ["licensing", "maintenance_credit"]
    return {c["source"]: c for c in consumers}
