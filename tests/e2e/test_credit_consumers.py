"""The maintenance-credit service's users, end to end: licensing, the credit service and
insurance as real processes on one test vhost, the gateway in this process. A unit's final
grade and the faults and entrapments recorded against an elevator it maintains reach
insurance's premium factors over the bus; the grade weighs licensing's audit draw (C and D
more than A and B).

Both units are licensed on the stack's day (2014-09-29): their first period, 2014, is
evaluated once it has ended (the clock moves to January, then past the objection period).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from infra.testing import wait_until
from services.licensing.examples import new_equipment_code, new_uscc, production_licence

XUHUI = "310104"
KIND = "production_licence"
CLOCK = "2014-09-29T09:00:00+08:00"
FINAL_DAY = "2015-02-02"


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture(scope="module")
def stack(module_stacks):
    stack = module_stacks(
        ["licensing", "maintenance_credit", "insurance"], gateway=True, clock=CLOCK
    )
    admin = stack.client(stack.token("city_admin"))
    delegation = {"bureau": XUHUI, "kinds": [KIND], "effective_from": "2014-01-01"}
    ok(admin.post("/v1/delegations", delegation), 201)
    officer = stack.client(stack.token("bureau_officer", bureau=XUHUI))
    for i in (1, 2):  # a bureau draws only with inspectors on its list
        inspector = {"inspector_id": f"xh-{i}", "name": f"Inspector {i}"}
        body = {**inspector, "organization_uscc": new_uscc()}
        ok(officer.post("/v1/audits/inspectors", body), 201)
    return stack


def licensed_unit(stack, officer) -> tuple[str, str]:
    """A maintenance unit licensed by Xuhui, once the credit service knows it: (uscc, licence)."""
    uscc = new_uscc()
    body = production_licence(uscc, scope=("elevator:maintenance",), level=None, district=XUHUI)
    app = ok(officer.post("/v1/applications", body), 201)
    ok(officer.post(f"/v1/applications/{app['id']}/accept"))
    licence_no = ok(officer.post(f"/v1/applications/{app['id']}/approve", {"opinion": "ok"}))[
        "licence_no"
    ]
    wait_until(
        lambda: officer.get(f"/v1/credit/units/{uscc}").status_code == 200,
        timeout=30,
        what=f"the credit service to learn of {uscc}",
    )
    return uscc, licence_no


def incident(uscc: str, code: str, kind: str, n: int) -> dict:
    details = (
        {"arrival_minutes": 45, "area": "central"}  # late: 10 points each
        if kind == "entrapment"
        else {"caused_by_maintenance": False}
    )
    return {
        "event_id": f"{kind}-{code}-{n}",
        "unit_uscc": uscc,
        "equipment_code": code,
        "type": kind,
        "occurred_at": f"2014-09-2{n}T10:00:00+08:00",
        "details": details,
    }


def weights(officer, licences: dict[str, str]) -> dict[str, float]:
    """The weight of each of these licences in a plan drawing every candidate."""
    plan = ok(officer.post("/v1/audits/plans", {"kind": KIND, "size": 100}), 201)
    got = {t["licence_no"]: t["weight"] for t in plan["targets"]}
    return {who: got[no] for who, no in licences.items()}


def test_final_grades_and_incidents_reach_premium_factors_and_audit_weights(stack):
    officer = stack.client(stack.token("bureau_officer", bureau=XUHUI))
    admin = stack.client(stack.token("city_admin"))
    (late, late_licence), (clean, clean_licence) = (licensed_unit(stack, officer) for _ in "ab")
    licences = {"late": late_licence, "clean": clean_licence}
    code = new_equipment_code()
    with stack.rpc() as rpc:
        rpc.licensing.register_equipment(code, XUHUI, maintenance_unit_uscc=late)
    # Three late entrapments (30 points: grade C) and two faults on the late unit's elevator.
    for kind, n in (("entrapment", 1), ("entrapment", 2), ("entrapment", 3), ("fault", 4)):
        ok(officer.post("/v1/quality-events", incident(late, code, kind, n)), 201)
    ok(officer.post("/v1/quality-events", incident(late, code, "fault", 5)), 201)

    def factors() -> dict:
        with stack.rpc() as rpc:
            return rpc.insurance.premium_factors(code)

    before = wait_until(
        lambda: (f := factors())["entrapments_12m"] == 3 and f["faults_12m"] == 2 and f,
        what="insurance to count the elevator's incidents",
    )
    assert (before["maintenance_unit_uscc"], before["credit_grade"]) == (late, None)
    assert weights(officer, licences) == {"late": 1.0, "clean": 1.0}  # no grade published

    stack.set_clock("2015-01-05T09:00:00+08:00")
    try:
        ok(admin.post("/v1/credit/evaluations", {"period": "2014"}), 201)
        stack.set_clock(f"{FINAL_DAY}T09:00:00+08:00")
        ok(admin.post("/v1/credit/evaluations/2014/finalize"))
        after = wait_until(
            lambda: (f := factors())["credit_grade"] == "C" and f,
            what="insurance to hear of the final grade",
        )
        # the incidents of September 2014 are within the 12 months up to 2015-02-02
        assert (after["faults_12m"], after["entrapments_12m"]) == (2, 3)
        # an insurer asked to quote the elevator reads the same over HTTP
        insurer = stack.client(stack.token("insurer", uscc=new_uscc()))
        valid_until = (date.fromisoformat(FINAL_DAY) + timedelta(days=30)).isoformat()
        quote = {"equipment_codes": [code], "valid_until": valid_until}
        ok(insurer.post("/v1/insurance/quotes", quote), 201)
        assert ok(insurer.get(f"/v1/insurance/equipment/{code}/premium-factors")) == after

        # C weighs the draw (1 + 2); the clean unit's published A adds nothing.
        drawn = wait_until(
            lambda: (w := weights(officer, licences))["late"] == 3.0 and w,
            interval=1.0,
            what="licensing to weigh the draw by the final grade",
        )
        assert drawn == {"late": 3.0, "clean": 1.0}
    finally:
        stack.set_clock(CLOCK)
