"""The statutory clock by moving the injected clock (``SESP_CLOCK_FILE``): deemed acceptance,
overdue lists, renewal 30 days ahead, deemed renewal and expiry, operator review reminders and
missed reviews. The licensing service runs on SQLite (the embedded default); its timer sweep
does the work, so the tests wait for it rather than call it.

Everything is received on Monday 2014-09-29; the tests then move time forward only, in order.
"""

from __future__ import annotations

import pytest

from infra.testing import wait_until
from services.licensing.examples import (
    new_resident_id,
    new_uscc,
    operator_certificate,
    production_licence,
)


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture(scope="module")
def stack(module_stacks):
    return module_stacks(["licensing"], gateway=True)


@pytest.fixture(scope="module")
def officer(stack):
    return stack.client(stack.token("bureau_officer", bureau="SH"))


@pytest.fixture(scope="module")
def world(stack, officer):
    """Applications and licences made on 2014-09-29."""
    uscc = new_uscc()
    me = stack.client(stack.token("applicant", uscc=uscc))

    def submit():
        return ok(me.post("/v1/applications", production_licence(uscc)), 201)

    def approved(valid_until):
        app = submit()
        ok(officer.post(f"/v1/applications/{app['id']}/accept"))
        done = ok(
            officer.post(
                f"/v1/applications/{app['id']}/approve",
                {"opinion": "conditions met", "valid_until": valid_until},
            )
        )
        # Handed over at once: an undelivered certificate would make it overdue later.
        ok(officer.post(f"/v1/applications/{app['id']}/deliver-certificate", {}))
        return done["licence_no"]

    w = {"uscc": uscc, "holder": me}
    w["silent"] = submit()["id"]
    w["correcting"] = submit()["id"]
    ok(
        officer.post(
            f"/v1/applications/{w['correcting']}/request-correction",
            {"items": ["organisation chart"]},
        )
    )
    w["accepted"] = submit()["id"]
    ok(officer.post(f"/v1/applications/{w['accepted']}/accept"))
    w["renewing"] = approved("2014-12-31")
    w["lapsing"] = approved("2014-12-31")
    w["edge_ok"] = approved("2014-10-29")  # last day to ask: 2014-09-29, today
    w["edge_late"] = approved("2014-10-28")  # last day to ask: 2014-09-28, yesterday
    person = new_resident_id("19800101")
    op = ok(
        officer.post(
            "/v1/applications", operator_certificate(person, "Zhao Liu", "1980-01-01", in_ftz=False)
        ),
        201,
    )
    ok(officer.post(f"/v1/applications/{op['id']}/accept"))
    w["operator"] = ok(
        officer.post(f"/v1/applications/{op['id']}/approve", {"opinion": "exam passed"})
    )["licence_no"]
    ok(officer.post(f"/v1/applications/{op['id']}/deliver-certificate", {}))
    # Another applicant's, accepted today (decision due 31 October): decided or stopped late.
    w["late_uscc"] = new_uscc()
    other = stack.client(stack.token("applicant", uscc=w["late_uscc"]))
    w["late_holder"] = other
    for name in ("late", "late_suspended"):
        w[name] = ok(other.post("/v1/applications", production_licence(w["late_uscc"])), 201)["id"]
        ok(officer.post(f"/v1/applications/{w[name]}/accept"))
    return w


def status_of(client, app_id):
    return ok(client.get(f"/v1/applications/{app_id}"))


def test_renewal_must_be_asked_at_least_30_days_before_expiry(stack, world, officer):
    me = world["holder"]
    assert ok(me.post(f"/v1/licences/{world['renewing']}/renewals"), 201)["renewal"]
    assert ok(me.post(f"/v1/licences/{world['edge_ok']}/renewals"), 201)["renewal"]
    late = me.post(f"/v1/licences/{world['edge_late']}/renewals")
    assert late.status_code == 409 and "30 days" in late.json()["detail"]
    twice = me.post(f"/v1/licences/{world['renewing']}/renewals")
    assert twice.status_code == 409


def test_no_deemed_acceptance_on_the_intake_due_day(stack, world, officer):
    assert status_of(officer, world["silent"])["deadlines"]["intake_due"] == "2014-10-11"
    stack.set_clock("2014-10-11T20:00:00+08:00")
    with stack.rpc() as rpc:
        assert rpc.licensing.sweep_now()["deemed_accepted"] == 0
    assert status_of(officer, world["silent"])["status"] == "received"


def test_deemed_acceptance_when_the_intake_period_passed(stack, world, officer):
    overdue = ok(officer.get("/v1/applications", overdue="true", applicant=world["uscc"]))
    stack.set_clock("2014-10-13T09:00:00+08:00")
    app = wait_until(
        lambda: (a := status_of(officer, world["silent"]))["status"] == "accepted" and a,
        timeout=30,
        what="the timer sweep to record deemed acceptance",
    )
    deemed = [e for e in app["timeline"] if e["type"] == "deemed_accepted"]
    assert len(deemed) == 1 and deemed[0]["actor"] == "system"
    assert deemed[0]["accepted_on"] == "2014-09-29"  # counts from receipt
    assert app["deadlines"]["decision_due"] == "2014-10-31"
    assert app["deemed_accepted"] is True
    with stack.rpc() as rpc:  # idempotent: a second sweep records nothing more
        assert rpc.licensing.sweep_now()["deemed_accepted"] == 0
    assert [e["type"] for e in status_of(officer, world["silent"])["timeline"]].count(
        "deemed_accepted"
    ) == 1
    # A request for correction stops the intake clock: no deemed acceptance.
    assert status_of(officer, world["correcting"])["status"] == "awaiting_correction"
    assert overdue["items"] == []


def test_overdue_lists_the_missed_decisions(stack, world, officer):
    stack.set_clock("2014-11-03T09:00:00+08:00")
    listed = ok(officer.get("/v1/applications", overdue="true", applicant=world["uscc"]))
    assert {a["id"] for a in listed["items"]} == {world["silent"], world["accepted"]}
    assert all(a["overdue"] for a in listed["items"])
    ok(
        officer.post(
            f"/v1/applications/{world['accepted']}/refuse",
            {"reason": "no qualified staff", "legal_basis": "TSG 07-2019 3.2"},
        )
    )
    listed = ok(officer.get("/v1/applications", overdue="true", applicant=world["uscc"]))
    assert [a["id"] for a in listed["items"]] == [world["silent"]]
    assert status_of(officer, world["silent"])["overdue"] is True


def test_a_run_out_decision_period_cannot_be_extended_after_a_suspension(stack, world, officer):
    # Monday 3 November: the decision was due Friday 31 October.
    base = f"/v1/applications/{world['late_suspended']}"
    ok(officer.post(f"{base}/suspend-clock", {"reason": "expert review", "notice_ref": "N-7"}))
    refused = officer.post(f"{base}/extend", {"reason": "the experts need more time"})
    assert refused.status_code == 409, refused.text
    assert "ran out on 2014-10-31" in refused.json()["detail"]
    resumed = ok(officer.post(f"{base}/resume-clock"))
    assert resumed["deadlines"]["decision_due"] == "2014-10-31"
    assert resumed["clock"]["extended"] is False and resumed["overdue"] is True


def test_a_late_decision_is_recorded_and_listed(stack, world, officer):
    late = world["late"]
    approved = ok(officer.post(f"/v1/applications/{late}/approve", {"opinion": "conditions met"}))
    assert (approved["decided_late"], approved["working_days_late"]) == (True, 1)
    assert approved["timeline"][-1]["decided_late"] is True
    assert ok(officer.get(f"/v1/applications/{late}"))["decided_late"] is True
    mine = {"applicant": world["late_uscc"]}
    overdue = ok(officer.get("/v1/applications", overdue="true", **mine))["items"]
    assert late not in [a["id"] for a in overdue]  # no longer running late ...
    listed = ok(officer.get("/v1/applications", decided_late="true", **mine))["items"]
    assert [(a["id"], a["decided_late"]) for a in listed] == [(late, True)]  # ... but late
    in_time = ok(officer.get("/v1/applications", decided_late="false", **mine))["items"]
    assert late not in [a["id"] for a in in_time]
    # Scoped like every filter: the applicant sees its own, another bureau's officer nothing.
    holder = ok(world["late_holder"].get("/v1/applications", decided_late="true"))["items"]
    assert [a["id"] for a in holder] == [late]
    pudong = stack.client(stack.token("bureau_officer", bureau="310115"))
    assert ok(pudong.get("/v1/applications", decided_late="true"))["items"] == []
    with stack.rpc() as rpc:  # the read model says the same after a rebuild
        live = rpc.licensing.read_model_digest()
        rpc.licensing.replay()
        assert rpc.licensing.read_model_digest() == live


def test_a_renewal_undecided_at_expiry_is_deemed_granted(stack, world, officer):
    # 2014-10-29 has passed: the edge licence's pending renewal is deemed granted.
    licence = wait_until(
        lambda: (x := ok(officer.get(f"/v1/licences/{world['edge_ok']}")))["renewal"] is None and x,
        timeout=30,
        what="deemed renewal of the edge licence",
    )
    assert licence["valid_until"] == "2018-10-29" and licence["status"] == "active"
    renewed = [e for e in licence["timeline"] if e["type"] == "renewed"]
    assert renewed and renewed[0]["deemed"] is True
    late = ok(officer.get(f"/v1/licences/{world['edge_late']}"))
    assert late["status"] == "expired"

    stack.set_clock("2015-01-02T09:00:00+08:00")
    renewing = wait_until(
        lambda: (
            (x := ok(officer.get(f"/v1/licences/{world['renewing']}")))["renewal"] is None and x
        ),
        timeout=30,
        what="deemed renewal",
    )
    assert (renewing["status"], renewing["valid_until"]) == ("active", "2018-12-31")
    lapsing = ok(officer.get(f"/v1/licences/{world['lapsing']}"))
    assert lapsing["status"] == "expired"
    public = ok(stack.client().get("/v1/public/licences", holder=world["uscc"]))["items"]
    assert {p["licence_no"]: p["status"] for p in public}[world["lapsing"]] == "expired"


def test_operator_items_remind_then_lapse_when_the_review_is_missed(stack, world, officer):
    no = world["operator"]
    item = ok(officer.get(f"/v1/licences/{no}"))["items"][0]
    assert item == {"item": "T", "valid_until": "2018-09-28", "status": "valid"}
    # The review must be asked by 2018-08-28; the reminder comes 30 days before that.
    stack.set_clock("2018-07-29T09:00:00+08:00")
    reminded = wait_until(
        lambda: [
            e
            for e in ok(officer.get(f"/v1/licences/{no}"))["timeline"]
            if e["type"] == "review_reminder"
        ],
        timeout=30,
        what="the review reminder",
    )
    assert reminded[0]["review_by"] == "2018-08-28"
    stack.set_clock("2018-09-29T09:00:00+08:00")
    lapsed = wait_until(
        lambda: (x := ok(officer.get(f"/v1/licences/{no}")))["status"] == "expired" and x,
        timeout=30,
        what="the missed review to invalidate the item",
    )
    assert lapsed["items"][0]["status"] == "invalid"
    assert lapsed["items"][0]["reason"] == "review missed"
