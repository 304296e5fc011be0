"""The equipment register through the gateway over HTTP against a running licensing service:
officers' direct commands on a unit (and its certificate following), transfer of a unit to a
new user (a new certificate, the old one closed), and point-in-time (``as_of``) reads.

Units are registered in Pudong (310115, not delegated here: the city bureau ``SH`` decides)
unless a test registers one without an application in Xuhui (310104).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services.licensing.examples import (
    new_equipment_code,
    new_uscc,
    production_licence,
    use_registration,
)

XUHUI, HUANGPU = "310104", "310101"


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture(scope="module")
def stack(module_stacks):
    return module_stacks(["licensing"], gateway=True)


@pytest.fixture(scope="module")
def officer(stack):
    return stack.client(stack.token("bureau_officer", bureau="SH"))


def registered(stack, officer, uscc, code, reason="first_use"):
    """Apply (as ``uscc``) for a use registration of ``code`` and approve it: the application."""
    me = stack.client(stack.token("applicant", uscc=uscc))
    app = ok(
        me.post("/v1/applications", use_registration(uscc, code, in_ftz=False, reason=reason)), 201
    )
    ok(officer.post(f"/v1/applications/{app['id']}/accept"))
    return officer.post(f"/v1/applications/{app['id']}/approve", {"opinion": "inspected"})


def register(stack, officer, uscc, code) -> str:
    return ok(registered(stack, officer, uscc, code))["licence_no"]


# --- officers' commands on a unit -------------------------------------------------------------


def test_a_unit_suspended_directly_suspends_its_certificate_too(stack, officer):
    code = new_equipment_code()
    no = register(stack, officer, new_uscc(), code)

    unit = ok(officer.post(f"/v1/equipment/{code}/suspend", {"reason": "entrapment accident"}))
    assert (unit["status"], unit["version"]) == ("suspended", 2)
    assert ok(officer.get(f"/v1/licences/{no}"))["status"] == "suspended"

    again = officer.post(f"/v1/equipment/{code}/suspend", {"reason": "twice"})
    assert again.status_code == 409 and "suspended" in again.json()["detail"]
    assert ok(officer.get(f"/v1/licences/{no}"))["version"] == 2  # nothing applied twice

    unit = ok(officer.post(f"/v1/equipment/{code}/resume", {"reason": "repaired, inspected"}))
    assert unit["status"] == "registered"
    assert ok(officer.get(f"/v1/licences/{no}"))["status"] == "active"

    unit = ok(officer.post(f"/v1/equipment/{code}/cancel", {"reason": "scrapped"}))
    assert unit["status"] == "cancelled"
    licence = ok(officer.get(f"/v1/licences/{no}"))
    assert licence["status"] == "revoked"
    assert [e["type"] for e in unit["timeline"]] == [
        "registered",
        "suspended",
        "resumed",
        "cancelled",
    ]
    late = officer.post(f"/v1/equipment/{code}/resume", {"reason": "no"})
    assert late.status_code == 409 and "cancelled" in late.json()["detail"]


def test_a_unit_without_a_certificate_is_supervised_by_its_district(stack):
    code = new_equipment_code()
    with stack.rpc() as rpc:
        rpc.licensing.register_equipment(code, XUHUI, False, None, maintenance_unit_uscc=new_uscc())
    xuhui = stack.client(stack.token("bureau_officer", bureau=XUHUI))
    huangpu = stack.client(stack.token("bureau_officer", bureau=HUANGPU))
    user = stack.client(stack.token("applicant", uscc=new_uscc()))

    assert huangpu.post(f"/v1/equipment/{code}/suspend", {"reason": "x"}).status_code == 403
    assert user.post(f"/v1/equipment/{code}/suspend", {"reason": "x"}).status_code == 403

    maintainer = new_uscc()
    changed = ok(
        xuhui.post(
            f"/v1/equipment/{code}/changes",
            {"reason": "new maintenance contract", "maintenance_unit_uscc": maintainer},
            **{"If-Match": '"1"'},
        )
    )
    assert (changed["maintenance_unit_uscc"], changed["version"]) == (maintainer, 2)
    stale = xuhui.post(f"/v1/equipment/{code}/suspend", {"reason": "x"}, **{"If-Match": '"1"'})
    assert stale.status_code == 412
    assert ok(xuhui.post(f"/v1/equipment/{code}/suspend", {"reason": "x"}))["status"] == "suspended"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/equipment/{code}/suspend", {}, "reason"),
        ("/v1/equipment/{code}/suspend", {"reason": "x", "colour": "red"}, "colour"),
        (
            "/v1/equipment/{code}/changes",
            {"reason": "x", "maintenance_unit_uscc": "91350200776049653B"},
            "maintenance_unit_uscc",
        ),
        ("/v1/equipment/311000001209900001/cancel", {"reason": "x"}, "equipment_code"),
    ],
)
def test_bad_commands_on_a_unit_are_refused_with_the_field(stack, officer, path, body, field):
    code = new_equipment_code()
    register(stack, officer, new_uscc(), code)
    response = officer.post(path.format(code=code), body)
    assert response.status_code == 422, response.text
    assert field in response.json()["errors"]
    assert ok(officer.get(f"/v1/equipment/{code}"))["version"] == 1  # nothing changed


# --- transfer ---------------------------------------------------------------------------------


def test_a_transfer_issues_the_new_user_a_certificate_and_closes_the_old_one(stack, officer):
    old_user, new_user, code = new_uscc(), new_uscc(), new_equipment_code()
    old_no = register(stack, officer, old_user, code)

    approved = ok(registered(stack, officer, new_user, code, reason="transfer"))
    new_no = approved["licence_no"]
    assert new_no != old_no

    old = ok(officer.get(f"/v1/licences/{old_no}"))
    assert (old["status"], old["transferred_to"]) == ("transferred", new_no)
    assert old["timeline"][-1]["type"] == "transferred"
    new = ok(officer.get(f"/v1/licences/{new_no}"))
    assert (new["status"], new["holder"]["uscc"], new["equipment_code"]) == (
        "active",
        new_user,
        code,
    )

    unit = ok(officer.get(f"/v1/equipment/{code}"))
    assert (unit["user"]["uscc"], unit["licence_no"], unit["status"]) == (
        new_user,
        new_no,
        "registered",
    )

    public = stack.client()
    assert (
        ok(public.get("/v1/public/licences", holder=old_user))["items"][0]["status"]
        == "transferred"
    )
    assert ok(public.get("/v1/public/licences", holder=new_user))["items"][0]["status"] == "active"
    # The old user's certificate no longer acts on the unit; the new one does.
    assert officer.post(f"/v1/licences/{old_no}/suspend", {"reason": "x"}).status_code == 409
    ok(officer.post(f"/v1/equipment/{code}/suspend", {"reason": "inspection"}))
    assert ok(officer.get(f"/v1/licences/{new_no}"))["status"] == "suspended"


def test_a_transfer_needs_a_unit_in_use_and_a_new_user(stack, officer):
    user, code = new_uscc(), new_equipment_code()
    register(stack, officer, user, code)
    same = registered(stack, officer, user, code, reason="transfer")
    assert same.status_code == 409 and "already used by" in same.json()["detail"]

    ok(officer.post(f"/v1/equipment/{code}/suspend", {"reason": "repair"}))
    suspended = registered(stack, officer, new_uscc(), code, reason="transfer")
    assert suspended.status_code == 409 and "suspended" in suspended.json()["detail"]


def test_resuming_a_suspended_unit_by_use_registration_reinstates_its_certificate(stack, officer):
    user, code = new_uscc(), new_equipment_code()
    no = register(stack, officer, user, code)
    ok(officer.post(f"/v1/licences/{no}/suspend", {"reason": "entrapment accident"}))
    assert ok(officer.get(f"/v1/equipment/{code}"))["status"] == "suspended"

    resumed = ok(registered(stack, officer, user, code, reason="resume_after_suspension"))
    assert resumed["licence_no"] == no  # the unit keeps its certificate

    assert ok(officer.get(f"/v1/equipment/{code}"))["status"] == "registered"
    licence = ok(officer.get(f"/v1/licences/{no}"))
    assert licence["status"] == "active"  # unit and certificate never disagree
    assert licence["timeline"][-1]["type"] == "reinstated"
    public = ok(stack.client().get("/v1/public/licences", holder=user))["items"]
    assert [p["status"] for p in public] == ["active"]
    # The unit acts through its certificate again.
    ok(officer.post(f"/v1/equipment/{code}/suspend", {"reason": "inspection"}))
    assert ok(officer.get(f"/v1/licences/{no}"))["status"] == "suspended"


# --- point-in-time reads ----------------------------------------------------------------------


def test_as_of_reads_show_an_application_licence_and_unit_as_they_stood(stack, officer):
    uscc = new_uscc()
    me = stack.client(stack.token("applicant", uscc=uscc))
    stack.set_clock("2014-09-29T10:00:00+08:00")
    try:
        app = ok(me.post("/v1/applications", production_licence(uscc)), 201)
        stack.set_clock("2014-09-30T10:00:00+08:00")
        ok(officer.post(f"/v1/applications/{app['id']}/accept"))
        stack.set_clock("2014-10-08T10:00:00+08:00")
        no = ok(officer.post(f"/v1/applications/{app['id']}/approve", {"opinion": "ok"}))[
            "licence_no"
        ]
        stack.set_clock("2014-10-09T10:00:00+08:00")
        ok(officer.post(f"/v1/licences/{no}/suspend", {"reason": "audit finding"}))
    finally:
        stack.set_clock("2014-09-29T09:00:00+08:00")

    url = f"/v1/applications/{app['id']}"
    assert ok(me.get(url, as_of="2014-09-29"))["status"] == "received"
    then = ok(me.get(url, as_of="2014-09-30T10:30:00+08:00"))
    assert (then["status"], then["version"]) == ("accepted", 2)
    assert ok(me.get(url))["status"] == "approved"
    assert me.get(url, as_of="2014-09-28").status_code == 404  # not received yet

    assert (
        ok(officer.get(f"/v1/licences/{no}", as_of="2014-10-08T10:00:00+08:00"))["status"]
        == "active"
    )
    assert ok(officer.get(f"/v1/licences/{no}"))["status"] == "suspended"

    bad = me.get(url, as_of="yesterday")
    assert bad.status_code == 422 and "as_of" in bad.json()["errors"]


def test_as_of_on_the_register(stack, officer):
    code = new_equipment_code()
    stack.set_clock("2014-10-09T09:00:00+08:00")
    try:
        register(stack, officer, new_uscc(), code)
        stack.set_clock("2014-10-10T09:00:00+08:00")
        ok(officer.post(f"/v1/equipment/{code}/suspend", {"reason": "repair"}))
    finally:
        stack.set_clock("2014-09-29T09:00:00+08:00")
    assert ok(officer.get(f"/v1/equipment/{code}", as_of="2014-10-09"))["status"] == "registered"
    assert ok(officer.get(f"/v1/equipment/{code}", as_of="2014-10-10"))["status"] == "suspended"
    assert officer.get(f"/v1/equipment/{code}", as_of="2014-10-08").status_code == 404


# --- the certificate deadline -------------------------------------------------------------------


def test_an_undelivered_certificate_makes_the_application_overdue_until_delivered(stack, officer):
    uscc = new_uscc()
    me = stack.client(stack.token("applicant", uscc=uscc))
    stack.set_clock("2014-11-03T09:00:00+08:00")
    try:
        app = ok(me.post("/v1/applications", production_licence(uscc)), 201)
        ok(officer.post(f"/v1/applications/{app['id']}/accept"))
        stack.set_clock("2014-11-07T09:00:00+08:00")
        approved = ok(officer.post(f"/v1/applications/{app['id']}/approve", {"opinion": "ok"}))
        assert approved["deadlines"]["certificate_due"] == "2014-11-21"

        stack.set_clock("2014-11-21T17:00:00+08:00")  # the last day: still in time
        assert ok(officer.get(f"/v1/applications/{app['id']}"))["overdue"] is False
        stack.set_clock("2014-11-24T09:00:00+08:00")
        late = ok(officer.get("/v1/applications", overdue="true", applicant=uscc))["items"]
        assert [a["id"] for a in late] == [app["id"]]

        delivered = ok(
            officer.post(
                f"/v1/applications/{app['id']}/deliver-certificate", {"reference": "EMS 1190"}
            )
        )
        assert (delivered["certificate_delivered_on"], delivered["overdue"]) == (
            "2014-11-24",
            False,
        )
        assert delivered["timeline"][-1]["type"] == "certificate_delivered"
        assert ok(officer.get("/v1/applications", overdue="true", applicant=uscc))["items"] == []
        twice = officer.post(f"/v1/applications/{app['id']}/deliver-certificate", {})
        assert twice.status_code == 409 and "delivered on 2014-11-24" in twice.json()["detail"]
        assert me.post(f"/v1/applications/{app['id']}/deliver-certificate", {}).status_code == 403
    finally:
        stack.set_clock("2014-09-29T09:00:00+08:00")


# --- rebuild ------------------------------------------------------------------------------------


def test_sesp_replay_rebuilds_equal_read_models_with_progress(stack, officer):
    register(stack, officer, new_uscc(), new_equipment_code())
    out = subprocess.run(
        [sys.executable, "-m", "infra.cli", "replay", "licensing"],
        capture_output=True,
        text=True,
        env={**os.environ, "SESP_AMQP_URI": stack.amqp_uri},
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "licensing: rebuilding" in out.stdout
    assert "rebuilt read models equal the live ones" in out.stdout
    with stack.rpc() as rpc:
        progress = rpc.licensing.replay_progress()
    assert progress["running"] is False and progress["run"] >= 1
    assert progress["done"] == progress["total"] > 0
