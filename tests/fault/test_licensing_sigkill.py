"""Licensing killed with SIGKILL while officers approve: every approval is applied once, the
licence numbers stay gapless and unique, and retries (by the officer, and the broker's
redelivery of the unacknowledged request) change nothing twice."""

from __future__ import annotations

import eventlet
from sqlalchemy import create_engine, text

from infra.errors import Conflict
from infra.testing import Stack, wait_until
from services.licensing.examples import new_uscc, production_licence

TOTAL = 48


def _approved(engine) -> int:
    with engine.connect() as c:
        return c.execute(
            text("SELECT count(*) FROM events WHERE type = 'ApplicationApproved'")
        ).scalar_one()


def _approve(stack: Stack, app_id: str) -> str:
    """Approve as an officer would: on a lost answer, look and try again."""
    for _ in range(20):
        try:
            with stack.rpc(timeout=20) as rpc:
                try:
                    return rpc.licensing.application_command(app_id, "approve", {"opinion": "ok"})[
                        "status"
                    ]
                except Conflict:  # approved already (by this call before the crash, or a retry)
                    return rpc.licensing.get_application(app_id)["status"]
        except Exception:  # the service is down or the answer was lost: wait and retry
            eventlet.sleep(0.5)
    raise AssertionError(f"application {app_id} could not be approved")


def test_sigkill_during_approvals_applies_each_once_with_gapless_numbers(stacks):
    stack = stacks(["licensing"], db="postgresql", clock=None)
    licensing = stack.processes["licensing"]
    engine = create_engine(stack.db_urls["licensing"])
    try:
        with stack.rpc() as rpc:
            ids = []
            for _ in range(TOTAL):
                app = rpc.licensing.submit_application(production_licence(new_uscc()))
                rpc.licensing.application_command(app["id"], "accept", {})
                ids.append(app["id"])

        pool = eventlet.GreenPool(6)
        results = [pool.spawn(_approve, stack, app_id) for app_id in ids]
        wait_until(lambda: _approved(engine) >= 8, timeout=60, what="8 approvals")
        licensing.kill()
        killed_at = _approved(engine)
        assert killed_at < TOTAL, "the kill must land in the middle of the approvals"
        eventlet.sleep(1.0)
        licensing.start()
        stack.wait_ready(["licensing"])

        assert [r.wait() for r in results] == ["approved"] * TOTAL
        eventlet.sleep(1.0)  # any redelivered request has been answered by now

        with stack.rpc() as rpc:
            apps = [rpc.licensing.get_application(app_id) for app_id in ids]
            numbers = [a["licence_no"] for a in apps]
            for a in apps:
                assert [e["type"] for e in a["timeline"]].count("approved") == 1, a["id"]
            licences = [rpc.licensing.get_licence(no) for no in numbers]

        assert _approved(engine) == TOTAL
        assert len(set(numbers)) == TOTAL
        # One sequence per kind, bureau and year; a crash rolls back its allocation with the
        # approval, so the numbers are exactly 1..TOTAL.
        assert sorted(int(no.rsplit("-", 1)[1]) for no in numbers) == list(range(1, TOTAL + 1))
        assert {(lic["status"], lic["application_id"]) for lic in licences} == {
            ("active", app_id) for app_id in ids
        }
        with engine.connect() as c:
            issued = c.execute(
                text("SELECT count(*) FROM events WHERE type = 'LicenceIssued'")
            ).scalar_one()
        assert issued == TOTAL
    finally:
        engine.dispose()
