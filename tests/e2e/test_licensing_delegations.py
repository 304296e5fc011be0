"""Delegations through the gateway over HTTP against a running licensing service (SQLite): the
status follows the effective dates, identical delegations are refused while one is in force,
and effective dates are bounded (no backdated revocation).

The clock stands at 2014-09-29 (a Monday) unless a test moves it, and is put back after.
"""

from __future__ import annotations

import pytest

from services.licensing.examples import new_uscc, production_licence

JINSHAN, SONGJIANG, QINGPU, FENGXIAN = "310116", "310117", "310118", "310120"
NOW = "2014-09-29T09:00:00+08:00"


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture(scope="module")
def stack(module_stacks):
    return module_stacks(["licensing"], gateway=True)


@pytest.fixture(scope="module")
def admin(stack):
    return stack.client(stack.token("city_admin"))


def grant(admin, bureau, kinds=("production_licence",), effective="2014-01-01"):
    body = {"bureau": bureau, "kinds": list(kinds), "effective_from": effective}
    return admin.post("/v1/delegations", body)


def listed(admin, bureau):
    return {d["id"]: d for d in ok(admin.get("/v1/delegations", bureau=bureau))["items"]}


def test_a_revocation_dated_ahead_takes_effect_on_its_date(stack, admin):
    delegation = ok(grant(admin, JINSHAN), 201)
    revoked = ok(
        admin.post(
            f"/v1/delegations/{delegation['id']}/revoke",
            {"effective_from": "2014-10-08", "reason": "powers return to the city"},
        )
    )
    assert (revoked["status"], revoked["revoked_from"], revoked["in_force"]) == (
        "active",
        "2014-10-08",
        True,
    )
    assert listed(admin, JINSHAN)[delegation["id"]]["status"] == "active"
    applicant = new_uscc()
    me = stack.client(stack.token("applicant", uscc=applicant))
    body = production_licence(applicant, district=JINSHAN)
    assert ok(me.post("/v1/applications", body), 201)["bureau"] == JINSHAN
    try:
        stack.set_clock("2014-10-08T09:00:00+08:00")
        now = listed(admin, JINSHAN)[delegation["id"]]
        assert (now["status"], now["in_force"]) == ("revoked", False)
        assert ok(me.post("/v1/applications", body), 201)["bureau"] == "SH"
    finally:
        stack.set_clock(NOW)


def test_an_identical_delegation_is_refused_while_one_is_in_force(admin):
    first = ok(grant(admin, SONGJIANG, ("production_licence", "use_registration")), 201)
    again = grant(admin, SONGJIANG, ("use_registration", "production_licence"))
    assert again.status_code == 409, again.text
    assert first["id"] in again.json()["detail"]
    assert len(listed(admin, SONGJIANG)) == 1
    # Another date, or other kinds, is another delegation.
    ok(grant(admin, SONGJIANG, ("production_licence", "use_registration"), "2014-02-01"), 201)
    ok(grant(admin, SONGJIANG, ("production_licence",)), 201)
    # Once the first is revoked, the same terms may be granted again.
    ok(
        admin.post(
            f"/v1/delegations/{first['id']}/revoke",
            {"effective_from": "2014-09-29", "reason": "regranted"},
        )
    )
    ok(grant(admin, SONGJIANG, ("production_licence", "use_registration")), 201)


@pytest.mark.parametrize(
    "effective",
    ["1989-12-31", "2019-09-30", "2999-01-01"],
    ids=["before-1990", "over-5-years-ahead", "far-future"],
)
def test_a_grant_dated_out_of_bounds_is_refused_on_effective_from(admin, effective):
    response = grant(admin, QINGPU, effective=effective)
    assert response.status_code == 422, response.text
    assert list(response.json()["errors"]) == ["effective_from"]


def test_the_bounds_themselves_are_accepted(admin):
    ok(grant(admin, QINGPU, ("use_registration",), effective="1990-01-01"), 201)
    ok(grant(admin, QINGPU, ("use_registration",), effective="2019-09-29"), 201)


@pytest.mark.parametrize("effective", ["2014-09-28", "2014-01-01", "2019-09-30"])
def test_a_backdated_or_far_revocation_is_refused_on_effective_from(admin, effective):
    delegation = ok(grant(admin, FENGXIAN, effective="2014-01-01"), 201)
    response = admin.post(
        f"/v1/delegations/{delegation['id']}/revoke",
        {"effective_from": effective, "reason": "backdated"},
    )
    assert response.status_code == 422, response.text
    assert list(response.json()["errors"]) == ["effective_from"]
    assert "revoked_from" not in listed(admin, FENGXIAN)[delegation["id"]]
    today = ok(
        admin.post(
            f"/v1/delegations/{delegation['id']}/revoke",
            {"effective_from": "2014-09-29", "reason": "from today"},
        )
    )
    assert today["status"] == "revoked"
