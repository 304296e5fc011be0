"""Who supervises what, through the gateway over HTTP against a running licensing service
(SQLite): a relocation moves a unit and its certificate to the bureau of the new place; only a
transfer changes a unit's user; an officer records risk facts only about his bureau's units and
licensees, each bureau in its own namespace of fact ids; officers find a person's certificates
by resident ID number, and the issuing bureau sees the person's name.

Use registrations are delegated to Xuhui (310104) and Huangpu (310101), production licences to
Xuhui and FTZ, operator certificates to Pudong (310115, outside the zone). The clock stands at
2014-09-29.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text

from services.licensing.examples import (
    new_equipment_code,
    new_resident_id,
    new_uscc,
    operator_certificate,
    production_licence,
    use_registration,
)

XUHUI, HUANGPU, PUDONG = "310104", "310101", "310115"


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture(scope="module")
def stack(module_stacks):
    s = module_stacks(["licensing"], gateway=True)
    admin = s.client(s.token("city_admin"))
    for bureau, kinds in (
        (XUHUI, ["use_registration", "production_licence"]),
        (HUANGPU, ["use_registration"]),
        ("FTZ", ["production_licence"]),
        (PUDONG, ["operator_certificate"]),
    ):
        delegation = {"bureau": bureau, "kinds": kinds, "effective_from": "2014-01-01"}
        ok(admin.post("/v1/delegations", delegation), 201)
    return s


def officer(stack, bureau):
    return stack.client(stack.token("bureau_officer", bureau=bureau))


def decided(stack, bureau, body, outcome=200):
    """Submit ``body`` as its applicant, accept and approve it as an officer of ``bureau``."""
    applicant = body["applicant"].get("uscc")
    me = stack.client(stack.token("applicant", uscc=applicant))
    app = ok(me.post("/v1/applications", body), 201)
    assert app["bureau"] == bureau, app
    desk = officer(stack, bureau)
    ok(desk.post(f"/v1/applications/{app['id']}/accept"))
    response = desk.post(f"/v1/applications/{app['id']}/approve", {"opinion": "inspected"})
    assert response.status_code == outcome, response.text
    return response.json()


def unit_in(stack, district):
    """A unit registered in ``district`` (approved by its bureau): (code, certificate, user)."""
    user, code = new_uscc(), new_equipment_code()
    body = use_registration(user, code, in_ftz=False, district=district)
    return code, decided(stack, district, body)["licence_no"], user


def change(user, code, reason, district, in_ftz=False):
    return use_registration(user, code, in_ftz=in_ftz, district=district, reason=reason)


# --- relocation -------------------------------------------------------------------------------


def test_a_relocation_to_another_district_moves_the_unit_and_its_certificate_there(stack):
    code, no, user = unit_in(stack, XUHUI)
    xuhui, huangpu = officer(stack, XUHUI), officer(stack, HUANGPU)

    moved = decided(stack, HUANGPU, change(user, code, "relocation", HUANGPU))
    assert moved["licence_no"] == no  # the unit keeps its certificate

    licence = ok(huangpu.get(f"/v1/licences/{no}"))
    assert (licence["bureau"], licence["supervised_by"]) == (XUHUI, HUANGPU)
    assert licence["timeline"][-1]["type"] == "supervision_moved"
    assert [x["licence_no"] for x in ok(huangpu.get("/v1/licences", holder=user))["items"]] == [no]
    assert ok(xuhui.get("/v1/licences", holder=user))["items"] == []
    assert xuhui.post(f"/v1/equipment/{code}/suspend", {"reason": "x"}).status_code == 403
    assert xuhui.post(f"/v1/licences/{no}/suspend", {"reason": "x"}).status_code == 403

    unit = ok(huangpu.post(f"/v1/equipment/{code}/suspend", {"reason": "after the move"}))
    assert (unit["status"], unit["district"]) == ("suspended", HUANGPU)
    assert ok(huangpu.get(f"/v1/licences/{no}"))["status"] == "suspended"
    public = ok(stack.client().get("/v1/public/licences", holder=user))["items"]
    assert [p["authority"] for p in public] == [XUHUI]  # the decision stays Xuhui's


def test_a_relocation_into_the_free_trade_zone_moves_supervision_to_the_ftz_branch(stack):
    code, no, user = unit_in(stack, XUHUI)
    # Use registrations are not delegated to FTZ or Pudong: the city bureau decides the move.
    decided(stack, "SH", change(user, code, "relocation", PUDONG, in_ftz=True))
    ftz, pudong = officer(stack, "FTZ"), officer(stack, PUDONG)
    assert ok(ftz.get(f"/v1/licences/{no}"))["supervised_by"] == "FTZ"
    assert pudong.post(f"/v1/equipment/{code}/suspend", {"reason": "x"}).status_code == 403
    assert ok(ftz.post(f"/v1/equipment/{code}/suspend", {"reason": "x"}))["status"] == "suspended"


def test_an_address_change_within_the_district_keeps_the_supervising_bureau(stack):
    code, no, user = unit_in(stack, XUHUI)
    body = change(user, code, "address_change", XUHUI)
    body["location"]["address"] = "1 Caoxi Road"
    decided(stack, XUHUI, body)
    licence = ok(officer(stack, XUHUI).get(f"/v1/licences/{no}"))
    assert licence["supervised_by"] == XUHUI
    assert [e["type"] for e in licence["timeline"]] == ["issued"]


# --- only a transfer changes the user ---------------------------------------------------------


@pytest.mark.parametrize("reason", ["modification", "address_change", "relocation"])
def test_a_change_applied_for_by_another_organisation_is_refused(stack, reason):
    code, no, user = unit_in(stack, XUHUI)
    stranger = new_uscc()
    refused = decided(stack, XUHUI, change(stranger, code, reason, XUHUI), outcome=409)
    assert "transfer" in refused["detail"] and user in refused["detail"]
    unit = ok(officer(stack, XUHUI).get(f"/v1/equipment/{code}"))
    assert (unit["user"]["uscc"], unit["licence_no"], unit["version"]) == (user, no, 1)


def test_the_user_itself_may_rename_and_a_transfer_still_changes_the_user(stack):
    code, no, user = unit_in(stack, XUHUI)
    rename = change(user, code, "rename_of_user", XUHUI)
    rename["applicant"]["name"] = "Renamed Property Co."
    decided(stack, XUHUI, rename)
    unit = ok(officer(stack, XUHUI).get(f"/v1/equipment/{code}"))
    assert unit["user"] == {"uscc": user, "name": "Renamed Property Co."}
    buyer = new_uscc()
    new_no = decided(stack, XUHUI, change(buyer, code, "transfer", XUHUI))["licence_no"]
    unit = ok(officer(stack, XUHUI).get(f"/v1/equipment/{code}"))
    assert (unit["user"]["uscc"], unit["licence_no"]) == (buyer, new_no)


# --- risk facts ---------------------------------------------------------------------------------


def licensee(stack, bureau, in_ftz=False, district=XUHUI):
    uscc = new_uscc()
    decided(stack, bureau, production_licence(uscc, district=district, in_ftz=in_ftz))
    return uscc


def fact(fact_id, uscc, kind="accident"):
    return {"fact_id": fact_id, "uscc": uscc, "type": kind, "occurred_on": "2014-05-01"}


def test_an_officer_records_risk_facts_only_about_his_bureaus_units_and_licensees(stack):
    xuhui = officer(stack, XUHUI)
    in_ftz = licensee(stack, "FTZ", in_ftz=True, district=PUDONG)
    mine = licensee(stack, XUHUI)
    _, _, user = unit_in(stack, XUHUI)

    steering = xuhui.post("/v1/audits/risk-facts", fact(f"a-{in_ftz}", in_ftz))
    assert steering.status_code == 403, steering.text
    stranger = xuhui.post("/v1/audits/risk-facts", fact(f"a-{new_uscc()}", new_uscc()))
    assert stranger.status_code == 403
    assert ok(xuhui.post("/v1/audits/risk-facts", fact(f"a-{mine}", mine)), 201)["recorded"]
    assert ok(xuhui.post("/v1/audits/risk-facts", fact(f"a-{user}", user)), 201)["recorded"]
    assert ok(officer(stack, "FTZ").post("/v1/audits/risk-facts", fact(f"b-{in_ftz}", in_ftz)), 201)
    city = stack.client(stack.token("bureau_officer", bureau="SH"))
    assert ok(city.post("/v1/audits/risk-facts", fact(f"c-{in_ftz}", in_ftz)), 201)["recorded"]


def test_each_bureau_numbers_its_own_risk_facts(stack):
    xuhui, ftz = officer(stack, XUHUI), officer(stack, "FTZ")
    in_ftz = licensee(stack, "FTZ", in_ftz=True, district=PUDONG)
    mine = licensee(stack, XUHUI)
    fact_id = f"2014-{mine[-6:]}"
    first = ok(ftz.post("/v1/audits/risk-facts", fact(fact_id, in_ftz)), 201)
    assert (first["recorded"], first["bureau"]) == (True, "FTZ")
    own = ok(xuhui.post("/v1/audits/risk-facts", fact(fact_id, mine)), 201)
    assert (own["recorded"], own["bureau"], own["uscc"]) == (True, XUHUI, mine)
    retried = ok(xuhui.post("/v1/audits/risk-facts", fact(fact_id, mine)), 201)
    assert retried["recorded"] is False  # the same fact again: stored once
    reused = xuhui.post("/v1/audits/risk-facts", fact(fact_id, mine, "complaint_verified"))
    assert reused.status_code == 409 and fact_id in reused.json()["detail"]


# --- a person's certificates --------------------------------------------------------------------


def test_officers_find_a_persons_certificates_by_resident_id_and_the_issuer_sees_the_name(stack):
    person = new_resident_id("19850315")
    body = operator_certificate(person, "Zhao Liu", "1985-03-15", in_ftz=False)
    admin = stack.client(stack.token("city_admin"))
    app = ok(admin.post("/v1/applications", body), 201)
    assert app["bureau"] == PUDONG
    pudong = officer(stack, PUDONG)
    ok(pudong.post(f"/v1/applications/{app['id']}/accept"))
    no = ok(pudong.post(f"/v1/applications/{app['id']}/approve", {"opinion": "passed"}))[
        "licence_no"
    ]

    [found] = ok(pudong.get("/v1/licences", holder=person))["items"]
    assert found["licence_no"] == no
    assert (found["name"], found["holder"]["name"]) == ("Zhao Liu", "Zhao Liu")
    assert person not in json.dumps(found)
    assert ok(pudong.get("/v1/licences", holder=person.lower()))["items"][0]["licence_no"] == no
    [listed] = [
        x for x in ok(pudong.get("/v1/licences", limit=500))["items"] if x["licence_no"] == no
    ]
    assert listed["holder"]["name"] == "Zhao Liu"
    assert ok(officer(stack, XUHUI).get("/v1/licences", holder=person))["items"] == []
    [city] = ok(admin.get("/v1/licences", holder=person))["items"]
    assert city["holder"]["name"] == "Zhao Liu"
    assert ok(pudong.get("/v1/licences", holder=new_resident_id()))["items"] == []
    bad = pudong.get("/v1/licences", holder="310115198503150001")
    assert bad.status_code == 422 and "holder" in bad.json()["errors"]

    # Never stored in clear in the read models (the name neither).
    engine = create_engine(stack.db_urls["licensing"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM licences")).all()
    finally:
        engine.dispose()
    dump = json.dumps([list(r) for r in rows], default=str)
    assert no in dump and person not in dump and "Zhao Liu" not in dump
