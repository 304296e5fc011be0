"""A command is applied once, whatever is retried.

- Licensing killed (SIGKILL) after a submission committed but before nameko replied and acked:
  the broker redelivers that request to the restarted service, which must answer it from the
  recorded result instead of receiving a second application.
- The gateway gave up on a service (504) while the request waited: the request is not run late,
  the key stays "in progress" while the command may still run, and a retry with the same key
  after that makes one application.
"""

from __future__ import annotations

import os
import signal

import eventlet
import httpx
import pytest
from sqlalchemy import create_engine, text

from infra.testing import wait_until
from services.licensing.examples import new_uscc, production_licence

SUBMISSIONS = int(os.environ.get("SESP_FAULT_SUBMISSIONS", "100"))
KILL_AT = SUBMISSIONS * 3 // 8  # this committed submission dies before its reply and ack


def received(engine) -> int:
    with engine.connect() as c:
        return c.execute(
            text("SELECT count(*) FROM events WHERE type = 'ApplicationReceived'")
        ).scalar_one()


@pytest.fixture
def engine_of():
    engines = []

    def make(url):
        engines.append(create_engine(url))
        return engines[-1]

    yield make
    for e in engines:
        e.dispose()


def test_sigkill_between_commit_and_ack_during_100_submissions_makes_100_applications(
    stacks, engine_of
):
    # Generous timeouts: the requests in flight wait for the restart, however slow the machine.
    stack = stacks(
        ["licensing"], db="postgresql", gateway=True, gateway_config={"SESP_RPC_TIMEOUT": "120"}
    )
    engine = engine_of(stack.db_urls["licensing"])
    licensing = stack.processes["licensing"]
    # Restart it with the crash point armed.
    licensing.stop()
    normal_env = licensing.env
    licensing.env = {**normal_env, "SESP_FAULT_KILL_AFTER_COMMITS": str(KILL_AT)}
    licensing.start()
    stack.wait_ready(["licensing"])

    uscc = new_uscc()
    client = stack.client(stack.token("applicant", uscc=uscc))
    client.http.timeout = httpx.Timeout(150)

    def submit(i: int):
        return client.post("/v1/applications", production_licence(uscc))

    pool = eventlet.GreenPool(SUBMISSIONS)
    pending = [pool.spawn(submit, i) for i in range(SUBMISSIONS)]
    wait_until(lambda: not licensing.running, timeout=60, what="the crash point to fire")
    assert received(engine) < SUBMISSIONS, "the kill must land in the middle of the submissions"
    licensing.env = normal_env
    licensing.start()  # the unacknowledged requests come back to it
    stack.wait_ready(["licensing"])

    responses = [p.wait() for p in pending]
    assert [r.status_code for r in responses] == [201] * SUBMISSIONS, [
        r.text for r in responses if r.status_code != 201
    ][:3]
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == SUBMISSIONS  # each request its own application
    eventlet.sleep(1.0)  # a late redelivery would have been applied by now
    assert received(engine) == SUBMISSIONS
    with engine.connect() as c:
        recorded = c.execute(text("SELECT count(*) FROM command_results")).scalar_one()
    assert recorded == SUBMISSIONS


def test_a_timed_out_request_is_not_run_late_and_its_key_makes_one_application(stacks, engine_of):
    stack = stacks(
        ["licensing"],
        db="postgresql",
        gateway=True,
        gateway_config={
            "SESP_RPC_TIMEOUT": "2",
            "SESP_IDEMPOTENCY_WAIT": "0.5",
            "SESP_IDEMPOTENCY_LOCK": "4",
        },
    )
    engine = engine_of(stack.db_urls["licensing"])
    uscc = new_uscc()
    client = stack.client(stack.token("applicant", uscc=uscc))
    body = production_licence(uscc)
    key = {"Idempotency-Key": "submit-once-1"}
    pid = stack.processes["licensing"].proc.pid

    os.kill(pid, signal.SIGSTOP)  # the service hangs: the request waits for it
    try:
        first = client.post("/v1/applications", body, **key)
        assert first.status_code == 504, first.text
        again = client.post("/v1/applications", body, **key)
        assert again.status_code == 409, again.text  # the command may still run
        assert again.headers.get("Retry-After")
    finally:
        os.kill(pid, signal.SIGCONT)
    stack.wait_ready(["licensing"])
    eventlet.sleep(1.0)
    assert received(engine) == 0  # the expired request was not run when the service woke up

    eventlet.sleep(4.0)  # the claim expires
    retried = client.post("/v1/applications", body, **key)
    assert retried.status_code == 201, retried.text
    replayed = client.post("/v1/applications", body, **key)
    assert replayed.status_code == 201
    assert replayed.json()["id"] == retried.json()["id"]
    assert received(engine) == 1
