"""The public equipment lookup (``GET /v1/public/equipment/{code}``) end to end: licensing,
the credit service, the blacklist and insurance as real processes on one test vhost, the
gateway in this process. A passenger's view of an elevator: registered or not, its district,
its maintenance unit with the unit's latest final grade and whether it is listed, and whether
a policy covers it today; the legacy code answers the same; no policy or personal data.

The stack's day is 2014-09-29; the last steps move the clock past the 2014 evaluation (the
unit's grade becomes final on 2015-02-02) and back.
"""

from __future__ import annotations

import json
import random

import pytest

from infra.identifiers import InvalidIdentifier, validate_resident_id
from infra.testing import wait_until
from services.licensing.examples import (
    new_equipment_code,
    new_failing_uscc,
    new_uscc,
    production_licence,
    use_registration,
)
from tests.credit_units import CLOCK, XUHUI, xuhui_stack

OWNER_NAME = "Jilong Road Property Owner Co"
POLICY_NO = "PEQ-2014-0001"
PREMIUM = "93.17"


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture(scope="module")
def stack(module_stacks):
    return xuhui_stack(module_stacks, ["licensing", "maintenance_credit", "blacklist", "insurance"])


@pytest.fixture(scope="module")
def gw(stack):
    return stack.gateway


@pytest.fixture(scope="module")
def admin(gw):
    return gw.headers(gw.token("city_admin"))


def approved(gw, admin, body: dict) -> dict:
    app = ok(gw.client.post("/v1/applications", json=body, headers=admin), 201)
    base = f"/v1/applications/{app['id']}"
    ok(gw.client.post(f"{base}/accept", json={}, headers=admin))
    return ok(gw.client.post(f"{base}/approve", json={"opinion": "ok"}, headers=admin))


def maintenance_unit(gw, admin, uscc: str | None = None) -> str:
    """A maintenance unit licensed by Xuhui, once the credit service knows it."""
    uscc = uscc or new_uscc()
    body = production_licence(uscc, scope=("elevator:maintenance",), level=None, district=XUHUI)
    approved(gw, admin, body)
    wait_until(
        lambda: gw.client.get(f"/v1/credit/units/{uscc}", headers=admin).status_code == 200,
        timeout=30,
        what=f"the credit service to learn of {uscc}",
    )
    return uscc


def elevator(gw, admin, owner: str, maintainer: str | None) -> tuple[str, str]:
    """A registered elevator with a legacy code: (code, legacy code)."""
    code = new_equipment_code()
    legacy = f"3110{XUHUI}201409{random.randrange(10000):04d}"
    body = use_registration(owner, code, in_ftz=False, district=XUHUI, maintenance_unit=maintainer)
    body["applicant"]["name"] = OWNER_NAME
    body["subject"]["legacy_code"] = legacy
    approved(gw, admin, body)
    return code, legacy


def policy(owner: str, code: str, starts_on: str, revision: int) -> dict:
    return {
        "revision": revision,
        "policyholders": [{"uscc": owner, "name": OWNER_NAME, "role": "owner", "share": "1.00"}],
        "equipment_codes": [code],
        "cover": "liability",
        "limits": {"per_accident": "1000000.00", "per_person": "800000.00"},
        "premium": PREMIUM,
        "starts_on": starts_on,
        "ends_on": "2015-12-31",
        "status": "active",
    }


def lookup(gw, code: str):
    return gw.client.get(f"/v1/public/equipment/{code}")


def strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def listing(uscc: str, name: str) -> dict:
    return {
        "uscc": uscc,
        "name": name,
        "district": XUHUI,
        "reason": "forged maintenance records",
        "legal_basis": "Special Equipment Safety Law art. 88",
        "decision_no": f"沪市监特罚〔2014〕{uscc[-4:]}号",
    }


def test_a_unit_with_a_code_on_the_exception_list(gw, admin):
    """The lookup names no credit code, yet the unit's code (admitted from the exception list
    when it was licensed and named in the register) is looked up as the register holds it."""
    uscc = new_failing_uscc()
    ok(
        gw.client.put(
            f"/v1/admin/uscc-exceptions/{uscc}", json={"note": "old registry"}, headers=admin
        ),
        201,
    )
    maintenance_unit(gw, admin, uscc)
    code, _ = elevator(gw, admin, new_uscc(), uscc)
    found = ok(lookup(gw, code))["maintenance_unit"]
    assert (found["uscc"], found["grade"], found["listed"]) == (uscc, None, False)
    ok(
        gw.client.post("/v1/blacklist/listings", json=listing(uscc, found["name"]), headers=admin),
        201,
    )
    wait_until(
        lambda: ok(lookup(gw, code))["maintenance_unit"]["listed"],
        what="the lookup to show the listing",
    )


def test_a_passenger_looks_up_an_elevator(stack, gw, admin):
    unit = maintenance_unit(gw, admin)
    owner = new_uscc()
    code, legacy = elevator(gw, admin, owner, unit)
    unit_name = ok(gw.client.get(f"/v1/credit/units/{unit}", headers=admin))["name"]

    before = ok(lookup(gw, code))
    assert before == {
        "equipment_code": code,
        "status": "registered",
        "district": XUHUI,
        "maintenance_unit": {"uscc": unit, "name": unit_name, "grade": None, "listed": False},
        "insured_today": False,
    }
    assert ok(lookup(gw, legacy)) == before  # the legacy code answers as the unit's code
    tag = lookup(gw, code).headers["ETag"]
    again = gw.client.get(f"/v1/public/equipment/{code}", headers={"If-None-Match": tag})
    assert again.status_code == 304

    # An elevator whose register names no maintenance unit.
    bare, _ = elevator(gw, admin, owner, None)
    assert ok(lookup(gw, bare))["maintenance_unit"] is None

    # Invalid and unknown codes.
    for bad in ("12345", "3110123452014123456789", "0110123452014000001", "3110abc452014000001"):
        invalid = lookup(gw, bad)
        assert invalid.status_code == 422, invalid.text
        assert invalid.headers["content-type"].startswith("application/problem+json")
        assert list(invalid.json()["errors"]) == ["code"]
    unknown = lookup(gw, new_equipment_code())
    assert unknown.status_code == 404, unknown.text
    assert unknown.headers["content-type"].startswith("application/problem+json")

    # A policy that starts next month does not cover today; its revision from this month does.
    insurer = gw.headers(gw.token("insurer", uscc=new_uscc()))
    url = f"/v1/insurance/policies/{POLICY_NO}"
    ok(gw.client.put(url, json=policy(owner, code, "2014-10-01", 1), headers=insurer), 201)
    assert ok(lookup(gw, code))["insured_today"] is False
    ok(gw.client.put(url, json=policy(owner, code, "2014-09-01", 2), headers=insurer))
    wait_until(lambda: ok(lookup(gw, code))["insured_today"], what="insured today")
    assert ok(lookup(gw, legacy))["insured_today"] is True

    # The city bureau lists the unit.
    ok(gw.client.post("/v1/blacklist/listings", json=listing(unit, unit_name), headers=admin), 201)
    listed = wait_until(
        lambda: (b := ok(lookup(gw, code)))["maintenance_unit"]["listed"] and b,
        what="the lookup to show the listing",
    )
    assert listed["maintenance_unit"] == {
        "uscc": unit,
        "name": unit_name,
        "grade": None,
        "listed": True,
    }

    # A serious-violation listing is a credit veto: the credit service hears it too.
    wait_until(
        lambda: ok(gw.client.get(f"/v1/credit/units/{unit}", headers=admin))["vetoed"],
        what="the credit service to hear of the listing",
    )

    # No policy number, premium, insurer, owner or person in what the public reads.
    text = json.dumps(listed, ensure_ascii=False)
    for secret in (POLICY_NO, PREMIUM, owner, OWNER_NAME, "policy", "premium"):
        assert secret not in text
    for value in strings(listed):
        if value != code:
            with pytest.raises(InvalidIdentifier):
                validate_resident_id(value)

    # The 2014 evaluation: published in January, final after the objection period.
    try:
        stack.set_clock("2015-01-05T09:00:00+08:00")
        published = gw.client.post("/v1/credit/evaluations", json={"period": "2014"}, headers=admin)
        assert published.status_code == 201, published.text
        assert ok(lookup(gw, code))["maintenance_unit"]["grade"] is None  # published, not final
        stack.set_clock("2015-02-02T09:00:00+08:00")
        ok(gw.client.post("/v1/credit/evaluations/2014/finalize", headers=admin))
        graded = wait_until(
            lambda: (b := ok(lookup(gw, code)))["maintenance_unit"]["grade"] and b,
            what="the final grade in the lookup",
        )
        # no demerits in 2014, but the serious-violation listing vetoes: D
        assert graded["maintenance_unit"]["grade"] == "D"
        assert graded["insured_today"] is True  # the policy runs to the end of 2015
        assert ok(lookup(gw, legacy)) == graded
    finally:
        stack.set_clock(CLOCK)


def test_the_elevators_public_page_shows_what_the_lookup_says(gw, admin):
    owner, maintainer = new_uscc(), maintenance_unit(gw, admin)
    code, legacy = elevator(gw, admin, owner, maintainer)
    facts = ok(lookup(gw, code))
    page = gw.client.get("/equipment", params={"code": legacy, "lang": "en"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"<code>{code}</code>" in page.text and "registered, in service" in page.text
    assert f'href="/units/{maintainer}?lang=en"' in page.text
    insured = "covers it today</dt><dd>" + ("yes" if facts["insured_today"] else "no")
    assert insured in page.text
    zh = gw.client.get("/equipment", params={"code": code}, headers={"Accept-Language": "zh-CN"})
    assert '<html lang="zh-CN">' in zh.text and "已登记，在用" in zh.text
    bad = gw.client.get("/equipment", params={"code": "<b>123</b>", "lang": "en"})
    assert 'role="alert"' in bad.text and "not a valid equipment code" in bad.text
    assert "<b>123</b>" not in bad.text
    unknown_code = code[:-6] + ("000000" if code[-6:] != "000000" else "000001")
    unknown = gw.client.get("/equipment", params={"code": unknown_code, "lang": "en"})
    assert "No equipment is registered" in unknown.text or "not a valid" in unknown.text
