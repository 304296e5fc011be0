"""Licences, the equipment register, construction notices, operator reviews and post-approval
audits, through the gateway over HTTP against a running licensing service (SQLite).

The clock stands at 2014-09-29 until the last test, which moves it past a rectification
deadline. Audits use the Xuhui bureau (310104), to which this module delegates production
licences, so that its draws see only the licences made here.
"""

from __future__ import annotations

import json

import pytest

from infra.testing import wait_until
from services.licensing.examples import (
    new_equipment_code,
    new_resident_id,
    new_uscc,
    operator_certificate,
    production_licence,
    use_registration,
)

XUHUI = "310104"


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture(scope="module")
def stack(module_stacks):
    s = module_stacks(["licensing"], gateway=True)
    admin = s.client(s.token("city_admin"))
    ok(
        admin.post(
            "/v1/delegations",
            {"bureau": XUHUI, "kinds": ["production_licence"], "effective_from": "2014-01-01"},
        ),
        201,
    )
    return s


@pytest.fixture(scope="module")
def officer(stack):
    return stack.client(stack.token("bureau_officer", bureau="SH"))


@pytest.fixture(scope="module")
def xuhui(stack):
    return stack.client(stack.token("bureau_officer", bureau=XUHUI))


def approve(officer, app_id, **extra):
    ok(officer.post(f"/v1/applications/{app_id}/accept"))
    return ok(
        officer.post(f"/v1/applications/{app_id}/approve", {"opinion": "conditions met", **extra})
    )


def licensed(stack, officer, uscc, **kw):
    me = stack.client(stack.token("applicant", uscc=uscc))
    app = ok(me.post("/v1/applications", production_licence(uscc, **kw)), 201)
    return approve(officer, app["id"])["licence_no"]


def registered(stack, officer, uscc, code, **kw):
    me = stack.client(stack.token("applicant", uscc=uscc))
    app = ok(me.post("/v1/applications", use_registration(uscc, code, in_ftz=False, **kw)), 201)
    return approve(officer, app["id"])["licence_no"]


# --- licences and the register --------------------------------------------------------------


def test_suspend_reinstate_revoke_move_the_register_along(stack, officer):
    uscc, code = new_uscc(), new_equipment_code()
    no = registered(stack, officer, uscc, code)
    holder = stack.client(stack.token("applicant", uscc=uscc))
    assert ok(holder.get(f"/v1/licences/{no}"))["equipment_code"] == code

    suspended = ok(officer.post(f"/v1/licences/{no}/suspend", {"reason": "major repair"}))
    assert suspended["status"] == "suspended"
    assert ok(holder.get(f"/v1/equipment/{code}"))["status"] == "suspended"
    again = officer.post(f"/v1/licences/{no}/suspend", {"reason": "twice"})
    assert again.status_code == 409 and "suspended" in again.json()["detail"]
    ok(officer.post(f"/v1/licences/{no}/reinstate", {"reason": "repair inspected"}))
    assert ok(holder.get(f"/v1/equipment/{code}"))["status"] == "registered"
    revoked = ok(
        officer.post(f"/v1/licences/{no}/revoke", {"reason": "scrapped"}, **{"If-Match": '"3"'})
    )
    assert (revoked["status"], revoked["version"]) == ("revoked", 4)
    unit = ok(holder.get(f"/v1/equipment/{code}"))
    assert unit["status"] == "cancelled"
    assert [e["type"] for e in unit["timeline"]] == [
        "registered",
        "suspended",
        "resumed",
        "cancelled",
    ]
    public = ok(stack.client().get("/v1/public/licences", holder=uscc))["items"]
    assert public[0]["status"] == "revoked"


def test_licence_scope(stack, officer, xuhui):
    uscc = new_uscc()
    no = registered(stack, officer, uscc, new_equipment_code())
    assert xuhui.get(f"/v1/licences/{no}").status_code == 404
    assert xuhui.post(f"/v1/licences/{no}/suspend", {"reason": "x"}).status_code == 403
    stranger = stack.client(stack.token("applicant", uscc=new_uscc()))
    assert stranger.get(f"/v1/licences/{no}").status_code == 404
    assert stranger.post(f"/v1/licences/{no}/suspend", {"reason": "x"}).status_code == 403
    mine = ok(stack.client(stack.token("applicant", uscc=uscc)).get("/v1/licences"))["items"]
    assert [x["licence_no"] for x in mine] == [no]
    insurer = stack.client(stack.token("insurer", uscc=new_uscc()))
    assert ok(insurer.get("/v1/licences"))["items"] == []


def test_public_licences_by_licence_number_and_kind(stack, officer):
    uscc = new_uscc()
    production = licensed(stack, officer, uscc)
    use = registered(stack, officer, uscc, new_equipment_code())
    public = stack.client()

    def found(**params) -> list[tuple[str, str]]:
        items = ok(public.get("/v1/public/licences", **params))["items"]
        return [(x["licence_no"], x["kind"]) for x in items]

    both = [(production, "production_licence"), (use, "use_registration")]
    assert found(holder=uscc) == sorted(both)
    assert found(licence_no=use) == [(use, "use_registration")]
    assert found(licence_no=production) == [(production, "production_licence")]
    assert found(licence_no=f"{use}X") == []
    assert found(holder=uscc, kind="production_licence") == [(production, "production_licence")]
    assert found(holder=uscc, kind="construction_notice") == []
    assert found(licence_no=use, kind="production_licence") == []
    every_use = found(kind="use_registration", limit=500)
    assert (use, "use_registration") in every_use
    assert {kind for _, kind in every_use} == {"use_registration"}
    bad = public.get("/v1/public/licences", kind="boiler")
    assert bad.status_code == 422 and "kind" in bad.json()["errors"], bad.text


def test_a_change_of_registration_updates_the_unit(stack, officer):
    uscc, code, new_maintainer = new_uscc(), new_equipment_code(), new_uscc()
    no = registered(stack, officer, uscc, code, maintenance_unit=new_uscc())
    me = stack.client(stack.token("applicant", uscc=uscc))
    body = use_registration(
        uscc, code, in_ftz=False, reason="address_change", maintenance_unit=new_maintainer
    )
    body["location"]["address"] = "99 Zhangjiang Road"
    app = ok(me.post("/v1/applications", body), 201)
    done = approve(officer, app["id"])
    assert done["licence_no"] == no  # the unit keeps its certificate
    unit = ok(me.get(f"/v1/equipment/{code}"))
    assert unit["maintenance_unit_uscc"] == new_maintainer
    assert unit["address"] == "99 Zhangjiang Road"
    assert [e["type"] for e in unit["timeline"]] == ["registered", "changed"]
    first_use_again = ok(
        me.post("/v1/applications", use_registration(uscc, code, in_ftz=False)), 201
    )
    ok(officer.post(f"/v1/applications/{first_use_again['id']}/accept"))
    refused = officer.post(
        f"/v1/applications/{first_use_again['id']}/approve", {"opinion": "duplicate"}
    )
    assert refused.status_code == 409 and "already registered" in refused.json()["detail"]


def test_legacy_codes_are_aliases(stack, officer):
    uscc, code = new_uscc(), new_equipment_code()
    legacy = "31103101152014090001"
    me = stack.client(stack.token("applicant", uscc=uscc))
    body = use_registration(uscc, code, in_ftz=False)
    body["subject"]["legacy_code"] = legacy
    app = ok(me.post("/v1/applications", body), 201)
    approve(officer, app["id"])
    assert ok(me.get(f"/v1/equipment/{legacy}"))["equipment_code"] == code


# --- construction notices --------------------------------------------------------------------


def construction(installer, speed, work="install"):
    return {
        "kind": "construction_notice",
        "applicant": {"uscc": installer, "name": "Installer Co."},
        "location": {"district": "310101", "in_ftz": False, "address": "5 Bund"},
        "subject": {
            "equipment_code": new_equipment_code(),
            "work": work,
            "installer_uscc": installer,
            "starts_on": "2014-10-20",
            "rated_speed_mps": speed,
        },
        "materials": [],
    }


def test_a_construction_notice_needs_an_installer_licensed_for_the_speed(stack, officer):
    installer = new_uscc()
    me = stack.client(stack.token("applicant", uscc=installer))
    unlicensed = me.post("/v1/applications", construction(installer, 1.0))
    assert unlicensed.status_code == 422
    assert "subject.installer_uscc" in unlicensed.json()["errors"]

    licensed(stack, officer, installer, scope=("elevator:installation",), level="B")
    assert me.post("/v1/applications", construction(installer, 2.5)).status_code == 201
    too_fast = me.post("/v1/applications", construction(installer, 2.51))
    assert too_fast.status_code == 422
    assert "A2" in too_fast.json()["errors"]["subject.installer_uscc"][0]
    repair = me.post("/v1/applications", construction(installer, 1.0, work="repair"))
    assert repair.status_code == 422  # scope covers installation only

    licensed(stack, officer, installer, scope=("elevator:installation",), level="A2")
    filing = ok(me.post("/v1/applications", construction(installer, 6.0)), 201)
    assert me.post("/v1/applications", construction(installer, 6.01)).status_code == 422
    done = approve(officer, filing["id"])
    assert done["status"] == "approved" and done["licence_no"] is None
    assert done["deadlines"]["certificate_due"] is None  # a filing, not a licence
    stopped = ok(
        officer.post(
            f"/v1/applications/{filing['id']}/stop-work",
            {"reason": "no safety barrier around the shaft"},
        )
    )
    assert stopped["work_stopped"] and stopped["timeline"][-1]["type"] == "work_stop_ordered"
    again = officer.post(f"/v1/applications/{filing['id']}/stop-work", {"reason": "again"})
    assert again.status_code == 409


# --- operator reviews ------------------------------------------------------------------------


def operator(stack, officer, born="19800101", born_on="1980-01-01"):
    employer = new_uscc()
    person = new_resident_id(born)
    body = operator_certificate(
        person, "Qian Qi", born_on, employer=employer, items=("T", "R1"), in_ftz=False
    )
    app = ok(
        stack.client(stack.token("applicant", uscc=employer)).post("/v1/applications", body), 201
    )
    no = approve(officer, app["id"])["licence_no"]
    return no, stack.client(stack.token("applicant", uscc=employer))


def test_operator_review_refused_over_65(stack, officer):
    no, employer = operator(stack, officer, "19480101", "1948-01-01")
    result = ok(
        employer.post(
            f"/v1/licences/{no}/renewals",
            {"items": [{"item": "T", "last_worked_on": "2014-09-01"}]},
        ),
        201,
    )
    items = {i["item"]: i for i in result["items"]}
    assert items["T"]["status"] == "invalid" and "over 65" in items["T"]["reason"]
    assert items["R1"]["status"] == "valid" and result["status"] == "active"
    public = json.dumps(ok(stack.client().get("/v1/public/licences", limit=500)))
    assert "Qian Qi" not in public and "19480101" not in public


def test_operator_review_after_a_gap_of_more_than_a_year_is_refused(stack, officer):
    no, employer = operator(stack, officer)
    gap = ok(
        employer.post(
            f"/v1/licences/{no}/renewals",
            {
                "items": [
                    {"item": "T", "last_worked_on": "2013-09-28"},
                    {"item": "R1", "last_worked_on": "2013-09-29"},
                ]
            },
        ),
        201,
    )
    items = {i["item"]: i for i in gap["items"]}
    assert items["T"]["status"] == "invalid" and "gap" in items["T"]["reason"]
    assert gap["renewal"]["items"] == [{"item": "R1", "last_worked_on": "2013-09-29"}]
    granted = ok(
        officer.post(
            f"/v1/licences/{no}/renewals/decision",
            {"outcome": "granted", "reason": "review passed"},
        )
    )
    assert {i["item"]: i["valid_until"] for i in granted["items"]}["R1"] == "2022-09-28"


# --- audits ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def audited(stack, officer, xuhui):
    """Four Xuhui licensees; inspectors from one of them, from a unit maintaining another's
    elevator, and two independents; an accident on record for one licensee."""
    holders = [new_uscc() for _ in range(4)]
    nos = {h: licensed(stack, xuhui, h, district=XUHUI) for h in holders}
    maintainer = new_uscc()
    registered(stack, officer, holders[1], new_equipment_code(), maintenance_unit=maintainer)
    inspectors = [
        ("insp-a", holders[0]),
        ("insp-b", maintainer),
        ("insp-c", new_uscc()),
        ("insp-d", new_uscc()),
    ]
    for ident, org in inspectors:
        ok(
            xuhui.post(
                "/v1/audits/inspectors",
                {
                    "inspector_id": f"{ident}-{holders[0][-6:]}",
                    "name": f"Inspector {ident}",
                    "organization_uscc": org,
                },
            ),
            201,
        )
    ok(
        xuhui.post(
            "/v1/audits/risk-facts",
            {
                "fact_id": f"acc-{holders[2]}",
                "uscc": holders[2],
                "type": "accident",
                "occurred_on": "2013-05-01",
            },
        ),
        201,
    )
    return {"holders": holders, "licences": nos, "maintainer": maintainer}


def test_a_plan_draws_weighted_targets_and_conflict_free_inspectors(stack, xuhui, audited):
    plan = ok(
        xuhui.post("/v1/audits/plans", {"kind": "production_licence", "size": 4, "seed": 20141001}),
        201,
    )
    assert plan["bureau"] == XUHUI and plan["seed"] == 20141001
    assert len(plan["targets"]) == 4 and plan["candidates"] == 4
    by_holder = {t["holder_uscc"]: t for t in plan["targets"]}
    holders = audited["holders"]
    assert by_holder[holders[2]]["weight"] == 3.0  # accident within 2 years
    assert by_holder[holders[0]]["weight"] == 1.0
    assert all(len(t["inspectors"]) == 2 for t in plan["targets"])
    assert not any(i.startswith("insp-a") for i in by_holder[holders[0]]["inspectors"])
    assert not any(i.startswith("insp-b") for i in by_holder[holders[1]]["inspectors"])
    same = ok(
        xuhui.post("/v1/audits/plans", {"kind": "production_licence", "size": 4, "seed": 20141001}),
        201,
    )
    assert [t["licence_no"] for t in same["targets"]] == [t["licence_no"] for t in plan["targets"]]
    assert ok(xuhui.get(f"/v1/audits/{plan['id']}"))["reproduced"] is True
    by_rate = ok(xuhui.post("/v1/audits/plans", {"kind": "production_licence", "rate": 0.05}), 201)
    assert len(by_rate["targets"]) == 1 and isinstance(by_rate["seed"], int)
    other = stack.client(stack.token("bureau_officer", bureau="310101"))
    assert other.get(f"/v1/audits/{plan['id']}").status_code == 404


def test_if_match_on_audit_commands(stack, xuhui, audited):
    plan = ok(
        xuhui.post("/v1/audits/plans", {"kind": "production_licence", "size": 1, "seed": 3}), 201
    )
    [target] = [t["licence_no"] for t in plan["targets"]]
    url = f"/v1/audits/{plan['id']}/findings"
    body = {"licence_no": target, "findings": [{"item": "log missing", "severity": "serious"}]}
    assert xuhui.post(url, body, **{"If-Match": '"9"'}).status_code == 412
    assert ok(xuhui.get(f"/v1/audits/{plan['id']}"))["version"] == plan["version"]
    recorded = ok(xuhui.post(url, body, **{"If-Match": f'"{plan["version"]}"'}), 201)
    assert recorded["version"] == plan["version"] + 1
    order = {"licence_no": target, "due_on": "2014-10-20", "items": ["keep the log"]}
    stale = xuhui.post(
        f"/v1/audits/{plan['id']}/rectification-orders", order, **{"If-Match": '"1"'}
    )
    assert stale.status_code == 412


def test_findings_rectification_verification_and_overdue_orders(stack, xuhui, audited):
    plan = ok(
        xuhui.post("/v1/audits/plans", {"kind": "production_licence", "size": 3, "seed": 7}), 201
    )
    first, second, third = [t["licence_no"] for t in plan["targets"]]
    base = f"/v1/audits/{plan['id']}"
    ok(
        xuhui.post(
            f"{base}/findings",
            {
                "licence_no": first,
                "findings": [{"item": "welding records missing", "severity": "serious"}],
            },
        ),
        201,
    )
    ok(
        xuhui.post(
            f"{base}/findings",
            {
                "licence_no": second,
                "findings": [{"item": "brake test overdue", "severity": "serious"}],
            },
        ),
        201,
    )
    ok(xuhui.post(f"{base}/findings", {"licence_no": third, "findings": []}), 201)
    minor_only = xuhui.post(
        f"{base}/rectification-orders",
        {"licence_no": third, "due_on": "2014-10-20", "items": ["x"]},
    )
    assert minor_only.status_code == 409
    for no in (first, second):
        ok(
            xuhui.post(
                f"{base}/rectification-orders",
                {"licence_no": no, "due_on": "2014-10-20", "items": ["provide the records"]},
            ),
            201,
        )
    verified = ok(xuhui.post(f"{base}/rectifications/{first}/verify"))
    outcomes = {t["licence_no"]: t["outcome"] for t in verified["targets"]}
    assert outcomes == {first: "rectified", second: "rectification_ordered", third: "clean"}
    twice = xuhui.post(f"{base}/rectifications/{first}/verify")
    assert twice.status_code == 409 and "verified" in twice.json()["detail"]

    stack.set_clock("2014-10-21T09:00:00+08:00")
    overdue = wait_until(
        lambda: (
            {t["licence_no"]: t["outcome"] for t in ok(xuhui.get(base))["targets"]}[second]
            == "proceedings_opened"
        ),
        timeout=30,
        what="the sweep to open proceedings on the overdue order",
    )
    assert overdue
    public = ok(stack.client().get("/v1/public/audits", bureau=XUHUI))["items"]
    published = {p["id"]: p for p in public}[plan["id"]]
    assert {t["licence_no"]: t["outcome"] for t in published["targets"]}[
        second
    ] == "proceedings_opened"
