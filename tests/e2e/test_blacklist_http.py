"""The public blacklist over HTTP: the gateway in this process; licensing, the credit service
and the blacklist as real processes on one test vhost. Units are listed from the credit
service's events (reads are eventually consistent: the tests wait for them)."""

from __future__ import annotations

import csv
import io

import pytest

from infra.testing import wait_until
from services.licensing.examples import new_uscc
from tests.credit_units import CLOCK, XUHUI, licensed_unit, xuhui_stack


@pytest.fixture(scope="module")
def stack(module_stacks):
    return xuhui_stack(module_stacks, ["licensing", "maintenance_credit", "blacklist"])


@pytest.fixture(scope="module")
def gw(stack):
    return stack.gateway


@pytest.fixture(scope="module")
def admin(gw):
    return gw.headers(gw.token("city_admin"))


@pytest.fixture(scope="module")
def officer(gw):
    return gw.headers(gw.token("bureau_officer", bureau=XUHUI))


def fact(gw, officer, uscc: str, kind: str, n: int) -> None:
    body = {
        "event_id": f"bl-{kind}-{n}-{uscc}",
        "unit_uscc": uscc,
        "type": kind,
        "occurred_at": f"2014-09-29T0{n}:00:00+08:00",
        "details": {},
    }
    response = gw.client.post("/v1/quality-events", json=body, headers=officer)
    assert response.status_code == 201, response.text


def listed(gw, uscc: str) -> list[dict]:
    response = gw.client.get(f"/v1/public/blacklist/{uscc}")
    return response.json()["listings"] if response.status_code == 200 else []


def test_work_beyond_scope_lists_the_unit_publicly(gw, admin, officer):
    uscc = licensed_unit(gw, admin)
    assert gw.client.get(f"/v1/public/blacklist/{uscc}").status_code == 404
    fact(gw, officer, uscc, "beyond_licence_scope", 1)
    wait_until(lambda: listed(gw, uscc), timeout=20, what="the blacklist to list the unit")
    (listing,) = listed(gw, uscc)
    assert listing["reason"] == "maintenance work beyond the licence scope"
    assert (listing["list"], listing["status"], listing["listed_on"]) == (
        "maintenance_quality",
        "listed",
        "2014-09-29",
    )
    assert listing["trigger_event_id"] and listing["name"].endswith(uscc[-4:])
    assert listing["district"] == XUHUI
    bad = gw.client.get("/v1/public/blacklist/NOT-A-CODE")
    assert bad.status_code == 422 and "uscc" in bad.json()["errors"]


def test_final_grade_d_lists_and_an_approved_repair_removes(stack, gw, admin, officer):
    """Forged records (40) and a verified complaint (2): 42 points in 2014, grade D. The
    evaluation of 2014 is published in January and finalized after the objection period; the
    final D lists the unit; a granted repair takes it off at the end of the management period
    (the clock moves, and back at the end)."""
    uscc = licensed_unit(gw, admin)
    fact(gw, officer, uscc, "forged_record", 1)
    fact(gw, officer, uscc, "complaint_verified", 2)
    unit = gw.headers(gw.token("maintenance_unit", uscc=uscc))
    try:
        stack.set_clock("2015-01-05T09:00:00+08:00")
        published = gw.client.post("/v1/credit/evaluations", json={"period": "2014"}, headers=admin)
        assert published.status_code == 201, published.text
        stack.set_clock("2015-02-02T09:00:00+08:00")
        final = gw.client.post("/v1/credit/evaluations/2014/finalize", headers=admin)
        assert final.status_code == 200, final.text
        wait_until(lambda: listed(gw, uscc), timeout=20, what="the final D to list the unit")
        (listing,) = listed(gw, uscc)
        assert listing["reason"] == "final maintenance-quality credit grade D for 2014"
        assert (listing["listed_on"], listing["earliest_removal_on"]) == (
            "2015-02-02",
            "2016-02-02",
        )
        assert listing["publication_ends_on"] == "2018-02-02"
        found = gw.client.get("/v1/public/blacklist", params={"uscc": uscc}).json()["items"]
        assert [x["id"] for x in found] == [listing["id"]]

        base = f"/v1/blacklist/listings/{listing['id']}/repair-applications"
        other = gw.headers(gw.token("maintenance_unit", uscc=new_uscc()))
        assert gw.client.post(base, json={"rectification": "x"}, headers=other).status_code == 403
        applied = gw.client.post(base, json={"rectification": "records fixed"}, headers=unit)
        assert applied.status_code == 201, applied.text
        app = applied.json()["id"]
        decide = f"/v1/blacklist/repair-applications/{app}/decide"
        granted = {"outcome": "granted", "reason": "rectified"}
        early = gw.client.post(decide, json=granted, headers=admin)
        assert early.status_code == 409 and "re-inspection" in early.json()["detail"]
        reinspected = gw.client.post(
            f"/v1/blacklist/repair-applications/{app}/reinspection",
            json={"passed": True, "findings": "records complete"},
            headers=admin,
        )
        assert reinspected.status_code == 200, reinspected.text
        decided = gw.client.post(decide, json=granted, headers=admin)
        assert decided.status_code == 200 and decided.json()["status"] == "granted"
        assert listed(gw, uscc)[0]["status"] == "listed"  # until the management period ends

        stack.set_clock("2016-02-02T09:00:00+08:00")
        with stack.rpc() as rpc:
            rpc.blacklist.sweep_now()
    finally:
        stack.set_clock(CLOCK)
    # Public reads are kept in the gateway until it hears of the removal (within a second).
    wait_until(lambda: listed(gw, uscc)[0]["status"] == "removed", what="the public removal")
    (removed,) = listed(gw, uscc)
    assert (removed["status"], removed["removed_on"], removed["removal_reason"]) == (
        "removed",
        "2016-02-02",
        "credit_repaired",
    )
    wait_until(
        lambda: gw.client.get("/v1/public/blacklist", params={"uscc": uscc}).json()["items"] == [],
        what="the public list without the removed listing",
    )
    past = gw.client.get("/v1/public/blacklist", params={"uscc": uscc, "status": "removed"})
    assert [x["id"] for x in past.json()["items"]] == [removed["id"]]


def test_manual_listing_public_search_csv_and_etags(gw, admin):
    uscc = new_uscc()
    body = {
        "uscc": uscc,
        "name": "上海静安电梯维保有限公司",
        "district": "310106",
        "reason": "forged maintenance records",
        "legal_basis": "Special Equipment Safety Law art. 88",
        "decision_no": f"沪市监特罚〔2014〕{uscc[-4:]}号",
    }
    created = gw.client.post("/v1/blacklist/listings", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["list"] == "serious_violation"
    again = gw.client.post("/v1/blacklist/listings", json=body, headers=admin)
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    bad = gw.client.post("/v1/blacklist/listings", json={**body, "district": "9"}, headers=admin)
    assert bad.status_code == 422 and "district" in bad.json()["errors"]

    by_name = gw.client.get("/v1/public/blacklist", params={"q": "静安电梯"})
    assert [x["uscc"] for x in by_name.json()["items"]] == [uscc]
    by_district = gw.client.get("/v1/public/blacklist", params={"district": "310106"}).json()
    assert uscc in [x["uscc"] for x in by_district["items"]]
    tag = by_name.headers["ETag"]
    assert by_name.headers["Cache-Control"].startswith("public")
    not_modified = gw.client.get(
        "/v1/public/blacklist", params={"q": "静安电梯"}, headers={"If-None-Match": tag}
    )
    assert not_modified.status_code == 304

    exported = gw.client.get("/v1/public/blacklist.csv", params={"district": "310106"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [(r["uscc"], r["name"], r["status"]) for r in rows] == [
        (uscc, "上海静安电梯维保有限公司", "listed")
    ]
    tag = exported.headers["ETag"]
    cached = gw.client.get(
        "/v1/public/blacklist.csv", params={"district": "310106"}, headers={"If-None-Match": tag}
    )
    assert cached.status_code == 304
    # a new listing changes the tag
    other = {**body, "uscc": new_uscc(), "decision_no": f"{body['decision_no']}-2"}
    assert gw.client.post("/v1/blacklist/listings", json=other, headers=admin).status_code == 201
    fresh = gw.client.get(
        "/v1/public/blacklist.csv", params={"district": "310106"}, headers={"If-None-Match": tag}
    )
    assert fresh.status_code == 200 and len(fresh.content.decode("utf-8-sig").splitlines()) == 3
