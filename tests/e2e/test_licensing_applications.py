"""Applications through the gateway over HTTP, against a running licensing service on
PostgreSQL: delegation and routing, the FTZ story, scope, races, identifiers, If-Match, replay.

One service process and one gateway for the module; tests are isolated by fresh credit codes
and equipment codes. The injectable clock stands at 2014-09-29 (a Monday before National Day).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import eventlet
import pytest
from sqlalchemy import create_engine, text

from services.licensing.examples import (
    SHA,
    new_equipment_code,
    new_resident_id,
    new_uscc,
    operator_certificate,
    production_licence,
    use_registration,
)

FTZ_POWERS = [
    "use_registration",
    "operator_certificate",
    "construction_notice",
    "pressure_piping_licence",
]


@pytest.fixture(scope="module")
def stack(module_stacks):
    return module_stacks(["licensing"], gateway=True, db="postgresql")


@pytest.fixture(scope="module", autouse=True)
def ftz_delegation(stack):
    """The FTZ bureau holds the four powers before any test of the module runs."""
    admin = stack.client(stack.token("city_admin"))
    r = admin.post(
        "/v1/delegations",
        {"bureau": "FTZ", "kinds": FTZ_POWERS, "effective_from": "2014-09-01"},
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def admin(stack):
    return stack.client(stack.token("city_admin"))


@pytest.fixture(scope="module")
def ftz_officer(stack):
    return stack.client(stack.token("bureau_officer", bureau="FTZ"))


@pytest.fixture(scope="module")
def pudong_officer(stack):
    return stack.client(stack.token("bureau_officer", bureau="310115"))


@pytest.fixture(scope="module")
def city_officer(stack):
    return stack.client(stack.token("bureau_officer", bureau="SH"))


def applicant(stack, uscc):
    return stack.client(stack.token("applicant", uscc=uscc))


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


# --- delegations --------------------------------------------------------------------------


def test_delegation_is_listed_with_its_history(stack, admin, ftz_officer, ftz_delegation):
    assert ftz_delegation["status"] == "active"
    assert ftz_delegation["kinds"] == FTZ_POWERS
    r = ok(
        admin.post(
            "/v1/delegations",
            {"bureau": "310104", "kinds": ["production_licence"], "effective_from": "2014-01-01"},
        ),
        201,
    )
    revoked = ok(
        admin.post(
            f"/v1/delegations/{r['id']}/revoke",
            {"effective_from": "2014-09-29", "reason": "reorganised"},
        )
    )
    assert (revoked["status"], revoked["revoked_from"]) == ("revoked", "2014-09-29")
    again = admin.post(
        f"/v1/delegations/{r['id']}/revoke", {"effective_from": "2014-10-01", "reason": "twice"}
    )
    assert again.status_code == 409 and "revoked" in again.json()["detail"]
    listed = ok(ftz_officer.get("/v1/delegations", bureau="310104"))["items"]
    assert [d["id"] for d in listed] == [r["id"]]
    in_force_before = ok(admin.get("/v1/delegations", bureau="310104", as_of="2014-09-28"))
    in_force_from = ok(admin.get("/v1/delegations", bureau="310104", as_of="2014-09-29"))
    assert len(in_force_before["items"]) == 1 and in_force_from["items"] == []


def test_if_match_on_a_delegation_revocation(stack, admin):
    d = ok(
        admin.post(
            "/v1/delegations",
            {"bureau": "310106", "kinds": ["production_licence"], "effective_from": "2014-01-01"},
        ),
        201,
    )
    url, body = f"/v1/delegations/{d['id']}/revoke", {"effective_from": "2014-09-29", "reason": "x"}
    assert admin.post(url, body, **{"If-Match": '"7"'}).status_code == 412
    listed = ok(admin.get("/v1/delegations", bureau="310106"))["items"]
    assert [x["status"] for x in listed] == ["active"]  # nothing changed
    revoked = ok(admin.post(url, body, **{"If-Match": f'"{d["version"]}"'}))
    assert (revoked["status"], revoked["version"]) == ("revoked", d["version"] + 1)


def test_only_city_admin_delegates(stack, ftz_officer):
    r = ftz_officer.post(
        "/v1/delegations",
        {"bureau": "FTZ", "kinds": ["use_registration"], "effective_from": "2014-09-01"},
    )
    assert r.status_code == 403


def test_routing_follows_the_delegations(stack, admin):
    uscc = new_uscc()
    me = applicant(stack, uscc)
    in_ftz = ok(me.post("/v1/applications", use_registration(uscc, new_equipment_code())), 201)
    pudong = ok(
        me.post("/v1/applications", use_registration(uscc, new_equipment_code(), in_ftz=False)), 201
    )
    not_delegated = ok(me.post("/v1/applications", production_licence(uscc, in_ftz=True)), 201)
    assert (in_ftz["bureau"], pudong["bureau"], not_delegated["bureau"]) == ("FTZ", "SH", "SH")
    # Delegating to Pudong routes the next one there; the earlier one keeps its bureau.
    ok(
        admin.post(
            "/v1/delegations",
            {"bureau": "310115", "kinds": ["use_registration"], "effective_from": "2014-09-29"},
        ),
        201,
    )
    later = ok(
        me.post("/v1/applications", use_registration(uscc, new_equipment_code(), in_ftz=False)), 201
    )
    assert later["bureau"] == "310115"
    assert ok(admin.get(f"/v1/applications/{pudong['id']}"))["bureau"] == "SH"
    # FTZ still wins inside the zone.
    inside = ok(me.post("/v1/applications", use_registration(uscc, new_equipment_code())), 201)
    assert inside["bureau"] == "FTZ"


# --- the FTZ story --------------------------------------------------------------------------


def test_ftz_story_from_submission_to_the_register(stack, ftz_officer, pudong_officer, admin):
    uscc, maintainer, code = new_uscc(), new_uscc(), new_equipment_code()
    me = applicant(stack, uscc)
    app = ok(
        me.post("/v1/applications", use_registration(uscc, code, maintenance_unit=maintainer)), 201
    )
    assert (app["status"], app["bureau"], app["received_on"]) == ("received", "FTZ", "2014-09-29")
    # 5 working days across National Day: 30 Sep, 8, 9, 10 Oct and Saturday 11 Oct (worked).
    assert app["deadlines"]["intake_due"] == "2014-10-11"
    app_id = app["id"]

    # A Pudong officer can neither see nor act on it.
    assert pudong_officer.get(f"/v1/applications/{app_id}").status_code == 404
    assert pudong_officer.post(f"/v1/applications/{app_id}/accept").status_code == 403
    listed = ok(pudong_officer.get("/v1/applications"))["items"]
    assert app_id not in [a["id"] for a in listed]
    assert ok(ftz_officer.get("/v1/applications", status="received"))["items"]

    base = f"/v1/applications/{app_id}"
    corrected = ok(
        ftz_officer.post(
            f"{base}/request-correction", {"items": ["inspection report", "maintenance contract"]}
        )
    )
    assert corrected["status"] == "awaiting_correction"
    assert corrected["correction_items"] == ["inspection report", "maintenance contract"]
    supplied = ok(
        me.post(
            f"{base}/supplement",
            {
                "materials": [
                    {"name": "inspection report", "sha256": SHA},
                    {"name": "contract", "sha256": SHA, "item": "maintenance contract"},
                ]
            },
        )
    )
    assert supplied["status"] == "received"
    accepted = ok(ftz_officer.post(f"{base}/accept"))
    assert accepted["status"] == "accepted"
    assert accepted["deadlines"]["decision_due"] == "2014-10-31"
    reviewed = ok(ftz_officer.post(f"{base}/review", {"opinion": "site plan matches the unit"}))
    extended = ok(ftz_officer.post(f"{base}/extend", {"reason": "on-site evaluation"}))
    assert extended["deadlines"]["decision_due"] == "2014-11-14"
    second = ftz_officer.post(f"{base}/extend", {"reason": "once more"})
    assert second.status_code == 409
    assert "extended once" in second.json()["detail"]
    approved = ok(ftz_officer.post(f"{base}/approve", {"opinion": "meets the conditions"}))
    assert approved["status"] == "approved"
    assert approved["licence_no"].startswith("UR-FTZ-2014-")
    assert approved["deadlines"]["certificate_due"] == "2014-10-17"
    assert approved["version"] == reviewed["version"] + 2

    types = [e["type"] for e in approved["timeline"]]
    assert types == [
        "received",
        "correction_requested",
        "supplemented",
        "accepted",
        "reviewed",
        "extended",
        "approved",
    ]
    review = approved["timeline"][4]
    assert review["opinion"] == "site plan matches the unit"
    assert review["actor"].startswith("bureau_officer:") and review["at"].startswith("2014-")

    again = ftz_officer.post(f"{base}/accept")
    assert again.status_code == 409 and "approved" in again.json()["detail"]

    unit = ok(me.get(f"/v1/equipment/{code}"))
    assert (unit["status"], unit["district"], unit["in_ftz"]) == ("registered", "310115", True)
    assert unit["user"]["uscc"] == uscc and unit["maintenance_unit_uscc"] == maintainer
    assert unit["licence_no"] == approved["licence_no"]
    assert unit["registered_on"] == "2014-09-29"

    public = ok(stack.client().get("/v1/public/licences", holder=uscc))["items"]
    assert [p["licence_no"] for p in public] == [approved["licence_no"]]
    record = public[0]
    assert (record["uscc"], record["authority"], record["status"]) == (uscc, "FTZ", "active")
    assert record["decision_no"] and record["decided_on"] == "2014-09-29"


def test_an_operator_certificate_keeps_personal_data_out_of_public_records_and_the_store(
    stack, ftz_officer, admin
):
    id_number = new_resident_id("19800101")
    body = operator_certificate(id_number, "Li Si", "1980-01-01")
    app = ok(ftz_officer.post("/v1/applications", body), 201)  # intake at the counter
    assert app["bureau"] == "FTZ" and app["applicant"]["id_number"] == id_number
    base = f"/v1/applications/{app['id']}"
    ok(ftz_officer.post(f"{base}/accept"))
    approved = ok(ftz_officer.post(f"{base}/approve", {"opinion": "exam passed"}))
    licence = ok(admin.get(f"/v1/licences/{approved['licence_no']}"))
    assert licence["holder"]["id_number"] == id_number
    assert licence["items"] == [{"item": "T", "valid_until": "2018-09-28", "status": "valid"}]

    public = ok(stack.client().get("/v1/public/licences", limit=500))
    text_out = json.dumps(public)
    assert approved["licence_no"] in text_out
    assert id_number not in text_out and "Li Si" not in text_out

    engine = create_engine(stack.db_urls["licensing"])
    try:
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT data FROM events")).scalars().all()
            rows = conn.execute(text("SELECT * FROM applications")).all()
    finally:
        engine.dispose()
    assert not any(id_number in str(d) or "Li Si" in str(d) for d in stored)
    assert not any(id_number in str(r) for r in rows)


def test_erasing_a_person_leaves_the_record_with_the_personal_fields_erased(
    stack, ftz_officer, admin
):
    id_number = new_resident_id("19750505")
    app = ok(
        ftz_officer.post(
            "/v1/applications", operator_certificate(id_number, "Sun Ba", "1975-05-05")
        ),
        201,
    )
    base = f"/v1/applications/{app['id']}"
    ok(ftz_officer.post(f"{base}/accept"))
    licence_no = ok(ftz_officer.post(f"{base}/approve", {"opinion": "exam passed"}))["licence_no"]
    with stack.rpc() as rpc:
        subject = rpc.licensing.data_subject(id_number)["subject_id"]
    assert id_number not in subject
    erased = subprocess.run(
        [sys.executable, "-m", "infra.cli", "erase", subject, "--service", "licensing"],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert erased.returncode == 0 and "erased" in erased.stdout, erased.stderr
    after = ok(admin.get(base))
    assert after["applicant"] == {"id_number": "[erased]", "name": "[erased]"}
    assert after["subject"]["person"]["id_number"] == "[erased]"
    assert after["status"] == "approved" and after["licence_no"] == licence_no
    licence = ok(admin.get(f"/v1/licences/{licence_no}"))
    assert licence["holder"]["id_number"] == "[erased]" and licence["status"] == "active"


def test_an_operator_certificate_application_shows_the_validity_of_its_licence(stack, ftz_officer):
    body = operator_certificate(new_resident_id("19820202"), "Zhou Jiu", "1982-02-02")
    app = ok(ftz_officer.post("/v1/applications", body), 201)
    base = f"/v1/applications/{app['id']}"
    ok(ftz_officer.post(f"{base}/accept"))
    approved = ok(ftz_officer.post(f"{base}/approve", {"opinion": "exam passed"}))
    licence = ok(ftz_officer.get(f"/v1/licences/{approved['licence_no']}"))
    assert approved["valid_until"] == licence["valid_until"] == "2018-09-28"
    assert ok(ftz_officer.get(base))["valid_until"] == "2018-09-28"


def test_a_supplement_answering_one_of_two_items_leaves_the_other_open(stack, city_officer):
    uscc = new_uscc()
    me = applicant(stack, uscc)
    base = (
        f"/v1/applications/{ok(me.post('/v1/applications', production_licence(uscc)), 201)['id']}"
    )
    ok(city_officer.post(f"{base}/request-correction", {"items": ["site plan", "quality manual"]}))
    part = ok(me.post(f"{base}/supplement", {"materials": [{"name": "site plan", "sha256": SHA}]}))
    assert part["status"] == "awaiting_correction"
    assert part["open_correction_items"] == ["quality manual"]
    assert part["deadlines"]["intake_due"] == "2014-10-11"  # the old one: no new intake period
    assert part["timeline"][-1]["open_items"] == ["quality manual"]
    stray = me.post(
        f"{base}/supplement",
        {"materials": [{"name": "x", "sha256": SHA, "item": "fire certificate"}]},
    )
    assert stray.status_code == 422 and "materials.0.item" in stray.json()["errors"]
    rest = ok(
        me.post(f"{base}/supplement", {"materials": [{"name": "Quality Manual", "sha256": SHA}]})
    )
    assert (rest["status"], rest["open_correction_items"]) == ("received", [])


def test_timeline_entries_show_the_officers_bureau_and_name_in_china_time(stack):
    stack.set_clock("2014-09-29T01:00:00+00:00")  # the module's moment, as a server keeps it
    uscc = new_uscc()
    me = stack.client(stack.token("applicant", uscc=uscc, name="Acme portal"))
    officer = stack.client(stack.token("bureau_officer", bureau="SH", name="Wang Li"))
    app = ok(me.post("/v1/applications", production_licence(uscc)), 201)
    ok(officer.post(f"/v1/applications/{app['id']}/accept"))
    seen = ok(me.get(f"/v1/applications/{app['id']}"))
    received, accepted = seen["timeline"]
    assert accepted["actor"] == "bureau_officer:SH:Wang Li"
    assert accepted["by"] == {"role": "bureau_officer", "bureau": "SH", "name": "Wang Li"}
    assert received["actor"] == f"applicant:{uscc}:Acme portal"
    assert [e["at"] for e in seen["timeline"]] == ["2014-09-29T09:00:00+08:00"] * 2
    # The stored event keeps the token id for audit; the applicant never reads it.
    engine = create_engine(stack.db_urls["licensing"])
    try:
        with engine.connect() as conn:
            data = (
                conn.execute(
                    text("SELECT data FROM events WHERE stream_id = :s ORDER BY version"),
                    {"s": f"application-{app['id']}"},
                )
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    role, token_id = json.loads(data[1])["actor"].split(":")
    assert role == "bureau_officer" and token_id.startswith("tok_")
    assert token_id not in json.dumps(seen)


def test_dates_out_of_reach_are_refused_on_their_field(stack, city_officer):
    uscc = new_uscc()
    app = ok(applicant(stack, uscc).post("/v1/applications", production_licence(uscc)), 201)
    base = f"/v1/applications/{app['id']}"
    ok(city_officer.post(f"{base}/accept"))
    for valid_until in ("9999-12-31", "2019-01-01"):  # the term of 4 years ends 2018-09-28
        r = city_officer.post(f"{base}/approve", {"opinion": "ok", "valid_until": valid_until})
        assert r.status_code == 422, r.text
        assert "valid_until" in r.json()["errors"]
    for as_of in ("9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "0001-01-01"):
        r = city_officer.get(base, as_of=as_of)
        assert r.status_code == 422, r.text
        assert "as_of" in r.json()["errors"]
    assert ok(city_officer.get(base))["status"] == "accepted"  # nothing was recorded


# --- races, versions, status ----------------------------------------------------------------


def test_two_officers_approving_at_the_same_moment(stack, city_officer, admin):
    uscc = new_uscc()
    app = ok(applicant(stack, uscc).post("/v1/applications", production_licence(uscc)), 201)
    base = f"/v1/applications/{app['id']}"
    ok(city_officer.post(f"{base}/accept"))
    second_officer = stack.client(stack.token("bureau_officer", bureau="SH"))
    pool = eventlet.GreenPool()
    runs = [
        pool.spawn(o.post, f"{base}/approve", {"opinion": f"approve {i}"})
        for i, o in enumerate((city_officer, second_officer))
    ]
    statuses = sorted(r.wait().status_code for r in runs)
    assert statuses == [200, 409]
    final = ok(admin.get(base))
    assert [e["type"] for e in final["timeline"]].count("approved") == 1
    held = ok(admin.get("/v1/licences", holder=uscc))["items"]
    assert len(held) == 1 and held[0]["licence_no"] == final["licence_no"]


def test_if_match_names_the_version(stack, city_officer):
    uscc = new_uscc()
    app = ok(applicant(stack, uscc).post("/v1/applications", production_licence(uscc)), 201)
    base = f"/v1/applications/{app['id']}"
    stale = city_officer.post(f"{base}/accept", None, **{"If-Match": '"7"'})
    assert stale.status_code == 412
    accepted = ok(city_officer.post(f"{base}/accept", None, **{"If-Match": f'"{app["version"]}"'}))
    assert accepted["version"] == app["version"] + 1


def test_a_command_not_allowed_in_the_status_names_it(stack, city_officer):
    uscc = new_uscc()
    me = applicant(stack, uscc)
    app = ok(me.post("/v1/applications", production_licence(uscc)), 201)
    base = f"/v1/applications/{app['id']}"
    early = city_officer.post(f"{base}/approve", {"opinion": "too early"})
    assert early.status_code == 409 and "received" in early.json()["detail"]
    ok(me.post(f"{base}/withdraw", {"reason": "changed our plans"}))
    late = city_officer.post(f"{base}/accept")
    assert late.status_code == 409 and "withdrawn" in late.json()["detail"]


def test_applicants_act_only_on_their_own(stack, city_officer):
    mine, other = new_uscc(), new_uscc()
    me, them = applicant(stack, mine), applicant(stack, other)
    app = ok(me.post("/v1/applications", production_licence(mine)), 201)
    assert them.post("/v1/applications", production_licence(mine)).status_code == 403
    assert them.get(f"/v1/applications/{app['id']}").status_code == 404
    assert them.post(f"/v1/applications/{app['id']}/withdraw").status_code == 403
    assert me.post(f"/v1/applications/{app['id']}/accept").status_code == 403
    assert [a["id"] for a in ok(me.get("/v1/applications"))["items"]] == [app["id"]]
    assert ok(them.get("/v1/applications"))["items"] == []


def test_lists_filter_and_paginate(stack, city_officer):
    uscc = new_uscc()
    me = applicant(stack, uscc)
    ids = [ok(me.post("/v1/applications", production_licence(uscc)), 201)["id"] for _ in range(3)]
    ok(city_officer.post(f"/v1/applications/{ids[0]}/accept"))
    page = ok(me.get("/v1/applications", limit=2))
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = ok(me.get("/v1/applications", limit=2, cursor=page["next_cursor"]))
    assert {a["id"] for a in page["items"] + rest["items"]} == set(ids)
    accepted = ok(me.get("/v1/applications", status="accepted"))["items"]
    assert [a["id"] for a in accepted] == [ids[0]]
    assert ok(me.get("/v1/applications", kind="use_registration"))["items"] == []
    assert ok(me.get("/v1/applications", overdue="true"))["items"] == []


# --- identifiers ----------------------------------------------------------------------------

BAD = [
    ("applicant.uscc", lambda b: b["applicant"].update(uscc="91350200776049653B")),
    ("applicant.uscc", lambda b: b["applicant"].update(uscc="9135020077604965OA")),
    ("subject.equipment_code", lambda b: b["subject"].update(equipment_code="31101234520140001")),
    ("subject.equipment_code", lambda b: b["subject"].update(equipment_code="311012345201500001")),
    ("subject.equipment_code", lambda b: b["subject"].update(equipment_code="011012345201400001")),
    (
        "subject.maintenance_unit_uscc",
        lambda b: b["subject"].update(maintenance_unit_uscc="913502000728319540"),
    ),
    ("location.district", lambda b: b["location"].update(district="310199")),
    ("location.in_ftz", lambda b: b["location"].update(district="310101")),
    ("materials.0.sha256", lambda b: b["materials"][0].update(sha256="xyz")),
]


@pytest.mark.parametrize(("path", "spoil"), BAD, ids=[f"{p}-{i}" for i, (p, _) in enumerate(BAD)])
def test_invalid_identifiers_are_rejected_with_the_field_path(stack, city_officer, path, spoil):
    body = use_registration("91350200776049653A", new_equipment_code())
    spoil(body)
    r = city_officer.post("/v1/applications", body)
    assert r.status_code == 422, r.text
    assert path in r.json()["errors"], r.json()


def test_invalid_resident_id_numbers_are_rejected_with_the_field_path(stack, city_officer):
    good = new_resident_id("19800101")
    bad_check = good[:17] + ("0" if good[17] != "0" else "1")
    r = city_officer.post(
        "/v1/applications", operator_certificate(bad_check, "Wang Wu", "1980-01-01")
    )
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert "applicant.id_number" in errors and "subject.person.id_number" in errors
    assert bad_check not in r.text  # personal data never echoed
    mismatch = city_officer.post(
        "/v1/applications", operator_certificate(good, "Wang Wu", "1981-01-01")
    )
    assert "subject.person.born_on" in mismatch.json()["errors"]


def test_equipment_code_in_the_path_is_validated(stack, admin):
    r = admin.get("/v1/equipment/3110123452014")
    assert r.status_code == 422 and "equipment_code" in r.json()["errors"]
    assert admin.get(f"/v1/equipment/{new_equipment_code()}").status_code == 404


def test_unknown_fields_are_refused(stack, city_officer):
    body = production_licence(new_uscc())
    body["priority"] = "high"
    r = city_officer.post("/v1/applications", body)
    assert r.status_code == 422 and "priority" in r.json()["errors"]


# --- replay ---------------------------------------------------------------------------------


def test_rebuilding_the_read_models_gives_the_same_answers(stack, admin):
    before_lists = ok(admin.get("/v1/applications", limit=500))
    before_licences = ok(admin.get("/v1/licences", limit=500))
    with stack.rpc() as rpc:
        live = rpc.licensing.read_model_digest()
        replayed = rpc.licensing.replay()
        assert replayed["events"] > 10
        assert rpc.licensing.read_model_digest() == live
    assert ok(admin.get("/v1/applications", limit=500)) == before_lists
    assert ok(admin.get("/v1/licences", limit=500)) == before_licences
