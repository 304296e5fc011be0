"""Maintenance credit over HTTP: the gateway in this process, licensing and the credit service
as real processes on one test vhost. The credit service learns its units and elevators from
licensing's events; the tests wait for that (reads are eventually consistent)."""

from __future__ import annotations

import pytest

from infra.testing import wait_until
from services.licensing.demo import load_licensing_demo
from services.licensing.examples import new_equipment_code, new_uscc
from services.maintenance_credit.demo import load_demo
from tests.credit_units import CLOCK, HUANGPU, XUHUI, licensed_unit, xuhui_stack


@pytest.fixture(scope="module")
def stack(module_stacks):
    return xuhui_stack(module_stacks, ["licensing", "maintenance_credit"])


@pytest.fixture(scope="module")
def gw(stack):
    return stack.gateway


@pytest.fixture(scope="module")
def admin(gw):
    return gw.headers(gw.token("city_admin"))


@pytest.fixture(scope="module")
def officer(gw):
    return gw.headers(gw.token("bureau_officer", bureau=XUHUI))


def elevator(stack, uscc: str) -> str:
    code = new_equipment_code()
    with stack.rpc() as rpc:
        rpc.licensing.register_equipment(code, XUHUI, maintenance_unit_uscc=uscc)
    return code


def complaint(event_id: str, uscc: str, occurred_at: str = "2014-09-20T10:00:00+08:00"):
    return {
        "event_id": event_id,
        "unit_uscc": uscc,
        "type": "complaint_verified",
        "occurred_at": occurred_at,
        "details": {},
    }


def test_a_unit_reads_its_own_credit_and_another_units_is_404(gw, admin):
    uscc, other = licensed_unit(gw, admin), licensed_unit(gw, admin)
    own = gw.headers(gw.token("maintenance_unit", uscc=uscc))
    mine = gw.client.get(f"/v1/credit/units/{uscc}", headers=own)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert (body["uscc"], body["grade"], body["demerits"], body["vetoed"]) == (uscc, "A", 0, False)
    assert (body["period"], body["district"], body["as_of"]) == ("2014", XUHUI, "2014-09-29")
    theirs = gw.client.get(f"/v1/credit/units/{other}", headers=own)
    missing = gw.client.get(f"/v1/credit/units/{new_uscc()}", headers=own)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["detail"] == missing.json()["detail"]
    assert gw.client.get(f"/v1/credit/units/{other}/history", headers=own).status_code == 404
    bad = gw.client.get("/v1/credit/units/NOT-A-CODE", headers=admin)
    assert bad.status_code == 422 and "uscc" in bad.json()["errors"]


def test_a_unit_the_city_bureau_licensed_is_in_the_district_its_application_gave(gw, admin):
    # Most production licences are the city bureau's, which is no district's: the unit's
    # district comes from where its application said it is.
    uscc = licensed_unit(gw, admin, district=HUANGPU)
    (listed,) = gw.client.get(f"/v1/licences?holder={uscc}", headers=admin).json()["items"]
    licence = gw.client.get(f"/v1/licences/{listed['licence_no']}", headers=admin).json()
    assert (licence["bureau"], licence["holder"]["district"]) == ("SH", HUANGPU)
    unit = gw.client.get(f"/v1/credit/units/{uscc}", headers=admin).json()
    history = gw.client.get(f"/v1/credit/units/{uscc}/history", headers=admin).json()
    assert unit["district"] == history["district"] == HUANGPU


def test_a_batch_of_records_keeps_the_good_ones(stack, gw, admin):
    uscc, other = licensed_unit(gw, admin), licensed_unit(gw, admin)
    mine, theirs = elevator(stack, uscc), elevator(stack, other)
    unit = gw.headers(gw.token("maintenance_unit", uscc=uscc))

    def send(*records):
        r = gw.client.post(
            "/v1/maintenance-records:batch", json={"records": list(records)}, headers=unit
        )
        assert r.status_code == 200, r.text
        return r.json()

    first = {"record_id": "m-1", "equipment_code": mine, "performed_on": "2014-09-29"}
    first["type"] = "half_monthly"
    wait_until(
        lambda: send(first)["accepted"] + send(first)["duplicates"] >= 1,
        timeout=20,
        what="the credit service to learn of the elevator",
    )
    result = send(
        first,
        {**first, "record_id": "m-2", "type": "quarterly"},
        {**first, "record_id": "m-3", "equipment_code": theirs},
        {**first, "record_id": "m-4", "type": "weekly"},
        # registered today: not maintained by the unit yesterday
        {**first, "record_id": "m-5", "performed_on": "2014-09-28"},
    )
    assert (result["accepted"], result["duplicates"]) == (1, 1)
    rejected = [(r["index"], r["record_id"]) for r in result["rejected"]]
    assert rejected == [(2, "m-3"), (3, "m-4"), (4, "m-5")]
    assert "not maintained by" in result["rejected"][0]["errors"]["equipment_code"][0]
    assert "type" in result["rejected"][1]["errors"]
    officer = gw.headers(gw.token("bureau_officer", bureau=XUHUI))
    wrong_role = gw.client.post(
        "/v1/maintenance-records:batch", json={"records": [first]}, headers=officer
    )
    assert wrong_role.status_code == 403
    too_many = gw.client.post(
        "/v1/maintenance-records:batch", json={"records": [first] * 5001}, headers=unit
    )
    assert too_many.status_code == 422 and "records" in too_many.json()["errors"]


def test_quality_events_are_recorded_once_and_cost_points(gw, admin, officer):
    uscc = licensed_unit(gw, admin)
    event = complaint(f"q-{uscc}", uscc)
    created = gw.client.post("/v1/quality-events", json=event, headers=officer)
    assert created.status_code == 201, created.text
    assert created.json()["duplicate"] is False
    again = gw.client.post("/v1/quality-events", json=event, headers=officer)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    changed = gw.client.post(
        "/v1/quality-events", json={**event, "type": "duty_phone_unanswered"}, headers=officer
    )
    assert changed.status_code == 409
    bad = {**event, "event_id": "q-bad", "type": "entrapment", "details": {"area": "moon"}}
    refused = gw.client.post("/v1/quality-events", json=bad, headers=officer)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert {"equipment_code", "details.area", "details.arrival_minutes"} <= set(
        refused.json()["errors"]
    )
    elsewhere = gw.headers(gw.token("bureau_officer", bureau=HUANGPU))
    foreign = gw.client.post(
        "/v1/quality-events", json={**event, "event_id": "q-x"}, headers=elsewhere
    )
    assert foreign.status_code == 403
    detail = gw.client.get(f"/v1/credit/units/{uscc}", headers=admin).json()
    assert detail["demerits"] == 2
    assert [(d["rule"], d["points"], d["event_id"], d["status"]) for d in detail["deductions"]] == [
        ("complaint_verified", 2, event["event_id"], "active")
    ]
    before = gw.client.get(f"/v1/credit/units/{uscc}?as_of=2014-09-19", headers=admin).json()
    assert before["demerits"] == 0


def test_evaluation_appeal_finalize_and_public_grades(stack, gw, admin, officer):
    """The unit is licensed on the stack's day (2014-09-29): its first period is 2014, which
    is evaluated once it has ended (the clock moves to January, then past the objection
    period, and back at the end)."""
    uscc = licensed_unit(gw, admin)
    unit = gw.headers(gw.token("maintenance_unit", uscc=uscc))
    for i in range(6):  # 12 points in 2014: grade B
        event = complaint(f"e-{uscc}-{i}", uscc, f"2014-09-29T1{i}:00:00+08:00")
        assert gw.client.post("/v1/quality-events", json=event, headers=officer).status_code == 201
    early = gw.client.post("/v1/credit/evaluations", json={"period": "2014"}, headers=admin)
    assert early.status_code == 409 and "not ended" in early.json()["detail"]
    stack.set_clock("2015-01-05T09:00:00+08:00")
    try:
        published = gw.client.post("/v1/credit/evaluations", json={"period": "2014"}, headers=admin)
        assert published.status_code == 201, published.text
        evaluation = published.json()
        assert (evaluation["id"], evaluation["status"]) == ("2014", "published")
        assert evaluation["objection_until"] == "2015-01-19"  # 10 working days
        again = gw.client.post("/v1/credit/evaluations", json={"period": "2014"}, headers=admin)
        assert again.status_code == 409
        scored = gw.client.get(f"/v1/credit/units/{uscc}?as_of=2014-12-31", headers=unit).json()
        assert (scored["demerits"], scored["grade"]) == (12, "B")
        target = scored["deductions"][0]["id"]
        appeal = gw.client.post(
            f"/v1/credit/units/{uscc}/appeals",
            json={"deduction_id": target, "grounds": "the complaint named another lift"},
            headers=unit,
        )
        assert appeal.status_code == 201, appeal.text
        appeal_id = appeal.json()["id"]
        assert appeal.json()["status"] == "under_appeal"
        other = gw.headers(gw.token("maintenance_unit", uscc=new_uscc()))
        not_theirs = gw.client.post(
            f"/v1/credit/units/{uscc}/appeals",
            json={"deduction_id": target, "grounds": "x"},
            headers=other,
        )
        assert not_theirs.status_code == 403
        decision = {"outcome": "overturned", "reason": "another lift"}
        url = f"/v1/credit/appeals/{appeal_id}/decide"
        elsewhere = gw.headers(gw.token("bureau_officer", bureau=HUANGPU))
        assert gw.client.post(url, json=decision, headers=elsewhere).status_code == 403
        decided = gw.client.post(url, json=decision, headers=officer)
        assert decided.status_code == 200 and decided.json()["status"] == "overturned"
        open_still = gw.client.post("/v1/credit/evaluations/2014/finalize", headers=admin)
        assert open_still.status_code == 409 and "objection" in open_still.json()["detail"]
        stack.set_clock("2015-02-02T09:00:00+08:00")
        final = gw.client.post("/v1/credit/evaluations/2014/finalize", headers=admin)
    finally:
        stack.set_clock(CLOCK)
    assert final.status_code == 200, final.text
    assert final.json()["status"] == "final"
    public = gw.client.get(f"/v1/public/credit?uscc={uscc}")
    assert public.status_code == 200
    (item,) = public.json()["items"]
    assert (item["uscc"], item["period"], item["grade"], item["demerits"]) == (
        uscc,
        "2014",
        "A",
        10,
    )
    tag = public.headers["ETag"]
    assert (
        gw.client.get(f"/v1/public/credit?uscc={uscc}", headers={"If-None-Match": tag}).status_code
        == 304
    )
    page = gw.client.get("/v1/public/credit?limit=1").json()
    assert len(page["items"]) == 1
    if page["next_cursor"]:
        rest = gw.client.get(f"/v1/public/credit?limit=1&cursor={page['next_cursor']}").json()
        assert rest["items"][0]["uscc"] > page["items"][0]["uscc"]
    history = gw.client.get(f"/v1/credit/units/{uscc}/history", headers=unit).json()
    assert [(p["period"], p["grade"], p["status"]) for p in history["periods"]] == [
        ("2014", "A", "final")
    ]
    # the public page finds it by credit code and by a part of its name
    for q in (uscc.lower(), f"works {uscc[-4:]}"):
        page = gw.client.get("/", params={"q": q, "lang": "en"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert f"<code>{uscc}</code>" in page.text and "<strong>A</strong>" in page.text
    nothing = gw.client.get("/", params={"q": "<no such unit>", "lang": "en"})
    assert "No final credit grade matches" in nothing.text
    assert "&lt;no such unit&gt;" in nothing.text and "<no such unit>" not in nothing.text


def test_rule_sets_are_listed_for_any_token(gw):
    token = gw.headers(gw.token("insurer", uscc=new_uscc()))
    listed = gw.client.get("/v1/credit/rulesets", headers=token)
    assert listed.status_code == 200
    (default,) = [r for r in listed.json()["items"] if r["version"] == "demerit-2016"]
    assert default["grades"][0] == {"grade": "A", "min": 0, "max": 10}
    assert gw.client.get("/v1/credit/rulesets").status_code == 401


def test_a_new_rule_set_is_adopted_for_a_future_day_and_a_what_if_shows_who_moves(
    gw, admin, officer
):
    uscc = licensed_unit(gw, admin)
    for i in range(5):  # 10 points: A under demerit-2016
        event = complaint(f"w-{uscc}-{i}", uscc)
        assert gw.client.post("/v1/quality-events", json=event, headers=officer).status_code == 201
    default = next(
        r
        for r in gw.client.get("/v1/credit/rulesets", headers=admin).json()["items"]
        if r["version"] == "demerit-2016"
    )
    version = f"strict-{uscc[-6:]}"
    body = {
        **{k: default[k] for k in ("rules", "vetoes", "grades", "objection_working_days")},
        "version": version,
        "effective_from": "2015-01-01",
        "rules": {**default["rules"], "complaint_verified": {"points": 3}},
    }
    gapped = {**body, "grades": [dict(g) for g in default["grades"]]}
    gapped["grades"][1]["min"] = 12
    refused = gw.client.post("/v1/credit/rulesets", json=gapped, headers=admin)
    assert refused.status_code == 422 and "grades.1.min" in refused.json()["errors"]
    past = gw.client.post(
        "/v1/credit/rulesets", json={**body, "effective_from": "2014-09-01"}, headers=admin
    )
    assert past.status_code == 422 and "effective_from" in past.json()["errors"]
    created = gw.client.post("/v1/credit/rulesets", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["effective_from"] == "2015-01-01"
    assert gw.client.post("/v1/credit/rulesets", json=body, headers=admin).status_code == 409
    what_if = gw.client.post(f"/v1/credit/rulesets/{version}/what-if", json={}, headers=admin)
    assert what_if.status_code == 200, what_if.text
    assert {"uscc": uscc, "from": "A", "to": "B"} in what_if.json()["changes"]
    assert what_if.json()["compared_with"] == "demerit-2016"
    unknown = gw.client.post("/v1/credit/rulesets/nope/what-if", json={}, headers=admin)
    assert unknown.status_code == 404
    assert gw.client.get(f"/v1/credit/units/{uscc}", headers=admin).json()["grade"] == "A"


def test_demo_data_loads_once_after_licensings(module_stacks):
    stack = module_stacks(["licensing", "maintenance_credit"], gateway=True, clock=CLOCK)
    with stack.rpc() as rpc:
        load_licensing_demo(rpc)
        wait_until(
            lambda: len(rpc.maintenance_credit.list_units(50)) >= 6,
            timeout=30,
            what="the credit service to learn of the demo units",
        )
        first = load_demo(rpc)
        assert first["units"] == 6 and first["quality_events"] > 0
        assert set("ABCD") <= set(first["grades"])
        again = load_demo(rpc)
        assert again["quality_events"] == 0 and again["grades"] == first["grades"]


def test_the_public_page_says_when_the_credit_search_cannot_be_answered(module_stacks):
    lone = module_stacks([], gateway=True, clock=None)  # a gateway and no service
    page = lone.gateway.client.get("/", params={"q": "Lift", "lang": "en"})
    assert page.status_code == 200
    assert "cannot be answered just now" in page.text
    assert 'name="q"' in page.text and 'value="Lift"' in page.text
