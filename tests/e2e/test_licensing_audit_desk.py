"""What an officer needs to run audits, through the gateway over HTTP against a running
licensing service (SQLite): the lists of plans and inspectors (scoped, paginated), a draw
refused while the bureau has no inspectors, an operator target's holder named to the issuing
bureau, and published results that count minor findings and withhold a person's employer.

Minhang (310112) holds production licences and operator certificates here; Baoshan (310113)
production licences. The clock stands at 2014-09-29.
"""

from __future__ import annotations

import json

import pytest

from services.licensing.examples import (
    new_resident_id,
    new_uscc,
    operator_certificate,
    production_licence,
)

MINHANG, BAOSHAN = "310112", "310113"


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture(scope="module")
def stack(module_stacks):
    s = module_stacks(["licensing"], gateway=True)
    admin = s.client(s.token("city_admin"))
    for bureau, kinds in (
        (MINHANG, ["production_licence", "operator_certificate"]),
        (BAOSHAN, ["production_licence"]),
    ):
        body = {"bureau": bureau, "kinds": kinds, "effective_from": "2014-01-01"}
        ok(admin.post("/v1/delegations", body), 201)
    return s


def officer(stack, bureau):
    return stack.client(stack.token("bureau_officer", bureau=bureau))


def approved(stack, bureau, body) -> str:
    admin = stack.client(stack.token("city_admin"))
    app = ok(admin.post("/v1/applications", body), 201)
    assert app["bureau"] == bureau
    desk = officer(stack, bureau)
    ok(desk.post(f"/v1/applications/{app['id']}/accept"))
    return ok(desk.post(f"/v1/applications/{app['id']}/approve", {"opinion": "ok"}))["licence_no"]


def inspector(stack, bureau, ident):
    body = {"inspector_id": ident, "name": f"Inspector {ident}", "organization_uscc": new_uscc()}
    return ok(officer(stack, bureau).post("/v1/audits/inspectors", body), 201)


@pytest.fixture(scope="module")
def baoshan_licensees(stack):
    return [approved(stack, BAOSHAN, production_licence(new_uscc(), district=BAOSHAN))]


@pytest.fixture(scope="module")
def operators(stack):
    """Two operator certificates Minhang issued, each with an employer; two inspectors."""
    made = []
    for name in ("Sun Ba", "Zhou Jiu"):
        employer = new_uscc()
        body = operator_certificate(
            new_resident_id("19790604"), name, "1979-06-04", employer=employer, in_ftz=False
        )
        body["location"]["district"] = MINHANG
        made.append(
            {"licence_no": approved(stack, MINHANG, body), "name": name, "employer": employer}
        )
    inspector(stack, MINHANG, "mh-1")
    inspector(stack, MINHANG, "mh-2")
    return made


def test_a_plan_is_refused_while_the_bureau_has_no_inspectors(stack, baoshan_licensees):
    baoshan = officer(stack, BAOSHAN)
    refused = baoshan.post("/v1/audits/plans", {"kind": "production_licence", "size": 1})
    assert refused.status_code == 409, refused.text
    assert "inspector" in refused.json()["detail"]
    assert ok(baoshan.get("/v1/audits/plans"))["items"] == []
    inspector(stack, BAOSHAN, "bs-1")
    plan = ok(baoshan.post("/v1/audits/plans", {"kind": "production_licence", "size": 1}), 201)
    assert plan["targets"][0]["inspectors"] == ["bs-1"]


def test_an_operator_target_is_named_to_the_issuing_bureau_only(stack, operators):
    minhang = officer(stack, MINHANG)
    plan = ok(minhang.post("/v1/audits/plans", {"kind": "operator_certificate", "size": 2}), 201)
    names = {o["licence_no"]: o["name"] for o in operators}
    assert {t["licence_no"]: t["holder"] for t in plan["targets"]} == names
    again = ok(minhang.get(f"/v1/audits/{plan['id']}"))
    assert {t["licence_no"]: t["holder"] for t in again["targets"]} == names
    city = ok(stack.client(stack.token("city_admin")).get(f"/v1/audits/{plan['id']}"))
    assert {t["holder"] for t in city["targets"]} == set(names.values())

    public = ok(stack.client().get("/v1/public/audits", bureau=MINHANG))["items"]
    [published] = [p for p in public if p["id"] == plan["id"]]
    text = json.dumps(published)
    for o in operators:
        assert o["name"] not in text and o["employer"] not in text
    assert all(t["holder"] is None and t["holder_uscc"] is None for t in published["targets"])


def test_public_results_count_the_minor_findings_they_do_not_list(stack, operators):
    minhang = officer(stack, MINHANG)
    plan = ok(minhang.post("/v1/audits/plans", {"kind": "operator_certificate", "size": 1}), 201)
    [target] = plan["targets"]
    findings = [
        {"item": "logbook untidy", "severity": "minor"},
        {"item": "badge not worn", "severity": "minor"},
    ]
    ok(
        minhang.post(
            f"/v1/audits/{plan['id']}/findings",
            {"licence_no": target["licence_no"], "findings": findings},
        ),
        201,
    )
    public = ok(stack.client().get("/v1/public/audits", bureau=MINHANG))["items"]
    [published] = [t for p in public if p["id"] == plan["id"] for t in p["targets"]]
    assert published["outcome"] == "minor_findings"
    assert (published["findings"], published["minor_findings"]) == ([], 2)


def test_officers_list_their_bureaus_plans_and_inspectors(stack, operators, baoshan_licensees):
    minhang, baoshan = officer(stack, MINHANG), officer(stack, BAOSHAN)
    ok(minhang.post("/v1/audits/plans", {"kind": "operator_certificate", "size": 1}), 201)
    ok(minhang.post("/v1/audits/plans", {"kind": "operator_certificate", "size": 1}), 201)

    plans = ok(minhang.get("/v1/audits/plans"))["items"]
    assert len(plans) >= 2 and {p["bureau"] for p in plans} == {MINHANG}
    assert {"id", "kind", "drawn_on", "seed", "target_count", "outcomes"} <= set(plans[0])
    first = ok(minhang.get("/v1/audits/plans", limit=1))
    assert len(first["items"]) == 1 and first["next_cursor"]
    rest = ok(minhang.get("/v1/audits/plans", limit=500, cursor=first["next_cursor"]))["items"]
    assert [p["id"] for p in first["items"] + rest] == [p["id"] for p in plans]
    assert baoshan.get("/v1/audits/plans", bureau=MINHANG).status_code == 403
    assert MINHANG not in {p["bureau"] for p in ok(baoshan.get("/v1/audits/plans"))["items"]}
    admin = stack.client(stack.token("city_admin"))
    assert {p["bureau"] for p in ok(admin.get("/v1/audits/plans", bureau=MINHANG))["items"]} == {
        MINHANG
    }
    kinds = ok(minhang.get("/v1/audits/plans", kind="production_licence"))["items"]
    assert kinds == []

    listed = ok(minhang.get("/v1/audits/inspectors"))["items"]
    assert [(i["inspector_id"], i["bureau"]) for i in listed] == [
        ("mh-1", MINHANG),
        ("mh-2", MINHANG),
    ]
    page = ok(minhang.get("/v1/audits/inspectors", limit=1))
    assert [i["inspector_id"] for i in page["items"]] == ["mh-1"]
    following = ok(minhang.get("/v1/audits/inspectors", cursor=page["next_cursor"]))
    assert [i["inspector_id"] for i in following["items"]] == ["mh-2"]
    assert baoshan.get("/v1/audits/inspectors", bureau=MINHANG).status_code == 403
    everyone = ok(admin.get("/v1/audits/inspectors", limit=500))["items"]
    assert {MINHANG, BAOSHAN} <= {i["bureau"] for i in everyone}
    forged = minhang.get("/v1/audits/inspectors", cursor="abc.def")
    assert forged.status_code == 422 and "cursor" in forged.json()["errors"]
