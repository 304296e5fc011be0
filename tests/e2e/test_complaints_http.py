"""Complaints over HTTP: the gateway in this process, licensing and the credit service as
real processes on one test vhost. A passenger complains from the elevator's page and follows
the complaint by its reference; the district's officer sees it in the queue (another
district's does not, and cannot decide it); verifying it puts the complaint deduction on the
credit of the unit that maintained the elevator that day."""

from __future__ import annotations

import pytest

from infra.testing import wait_until
from services.licensing.examples import new_equipment_code, new_uscc
from tests.credit_units import HUANGPU, XUHUI, licensed_unit, xuhui_stack

CONTACT = "王小明 13800138000"


@pytest.fixture(scope="module")
def stack(module_stacks):
    return xuhui_stack(module_stacks, ["licensing", "maintenance_credit"])


@pytest.fixture(scope="module")
def gw(stack):
    return stack.gateway


@pytest.fixture(scope="module")
def admin(gw):
    return gw.headers(gw.token("city_admin"))


def submit(gw, body: dict, headers: dict | None = None):
    """POST the complaint until the credit service has heard of the elevator (404 before)."""
    sent: dict = {}

    def accepted() -> bool:
        sent["r"] = gw.client.post("/v1/public/complaints", json=body, headers=headers or {})
        assert sent["r"].status_code in (201, 404), sent["r"].text
        return sent["r"].status_code == 201

    wait_until(accepted, timeout=20, what="the credit service to learn of the elevator")
    return sent["r"]


def test_a_complaint_from_the_public_to_a_verified_deduction(stack, gw, admin):
    unit = licensed_unit(gw, admin)
    lift = new_equipment_code()
    with stack.rpc() as rpc:
        rpc.licensing.register_equipment(lift, XUHUI, maintenance_unit_uscc=unit)
    what = "<script>alert(1)</script> the car stopped between floors"
    body = {
        "equipment_code": lift,
        "what": what,
        "occurred_at": "2014-09-29T08:15:00+08:00",
        "contact": CONTACT,
    }
    sent = submit(gw, body)
    receipt = sent.json()
    reference = receipt["reference"]
    assert receipt == {"reference": reference, "status": "received"}
    assert sent.headers["content-type"].startswith("application/json")
    assert "script" not in sent.text and CONTACT not in sent.text
    # a second complaint gets another reference: not a sequence
    other = submit(gw, {**body, "what": "again", "contact": None}).json()["reference"]
    assert other != reference and len(reference) == 28

    # the passenger follows it by its reference, and sees nothing of what was sent
    followed = gw.client.get(f"/v1/public/complaints/{reference}")
    assert followed.status_code == 200, followed.text
    assert followed.json() == {"reference": reference, "status": "received"}
    for missing in ("C-" + "A" * 26, "1", "C-%3Cscript%3E"):
        response = gw.client.get(f"/v1/public/complaints/{missing}")
        assert response.status_code == 404, response.text
        assert "script" not in response.text

    # the district's officer sees it in the queue, with the contact details
    xuhui = gw.headers(gw.token("bureau_officer", bureau=XUHUI))
    huangpu = gw.headers(gw.token("bureau_officer", bureau=HUANGPU))
    queue = gw.client.get("/v1/complaints", headers=xuhui)
    assert queue.status_code == 200, queue.text
    mine = {c["reference"]: c for c in queue.json()["items"]}
    assert mine[reference]["contact"] == CONTACT
    assert mine[reference]["what"] == what
    assert (mine[reference]["equipment_code"], mine[reference]["district"]) == (lift, XUHUI)
    assert mine[other]["contact"] is None
    paged = gw.client.get("/v1/complaints", params={"limit": 1}, headers=xuhui).json()
    assert len(paged["items"]) == 1 and paged["next_cursor"]
    # another district's officer neither sees it nor decides it
    theirs = gw.client.get("/v1/complaints", headers=huangpu).json()["items"]
    assert reference not in {c["reference"] for c in theirs}
    decision = {"outcome": "verified", "reason": "the brake was not adjusted"}
    refused = gw.client.post(f"/v1/complaints/{reference}/decide", json=decision, headers=huangpu)
    assert refused.status_code == 404, refused.text
    no_reason = {"outcome": "verified"}
    bad = gw.client.post(f"/v1/complaints/{reference}/decide", json=no_reason, headers=xuhui)
    assert bad.status_code == 422 and "reason" in bad.json()["errors"]

    # verified: the unit's credit shows the complaint deduction, once
    url = f"/v1/complaints/{reference}/decide"
    decided = gw.client.post(url, json=decision, headers=xuhui)
    assert decided.status_code == 200, decided.text
    assert (decided.json()["status"], decided.json()["unit_uscc"]) == ("verified", unit)
    again = gw.client.post(url, json=decision, headers=xuhui)
    assert again.status_code == 409, again.text
    followed = gw.client.get(f"/v1/public/complaints/{reference}").json()
    assert followed == {"reference": reference, "status": "verified", "decided_on": "2014-09-29"}
    detail = gw.client.get(f"/v1/credit/units/{unit}", headers=admin).json()
    complaints = [d for d in detail["deductions"] if d["rule"] == "complaint_verified"]
    assert len(complaints) == 1, detail["deductions"]
    assert complaints[0]["points"] in (2, "2", "2.00", "2.0")
    # dismissed: no deduction
    dismiss = {"outcome": "dismissed", "reason": "a power cut in the building"}
    r = gw.client.post(f"/v1/complaints/{other}/decide", json=dismiss, headers=admin)
    assert r.status_code == 200, r.text
    detail = gw.client.get(f"/v1/credit/units/{unit}", headers=admin).json()
    assert len([d for d in detail["deductions"] if d["rule"] == "complaint_verified"]) == 1
    verified = gw.client.get("/v1/complaints", params={"status": "verified"}, headers=xuhui)
    assert [c["reference"] for c in verified.json()["items"]] == [reference]


def test_a_submission_is_checked_and_idempotent(stack, gw, admin):
    unit = licensed_unit(gw, admin)
    lift = new_equipment_code()
    with stack.rpc() as rpc:
        rpc.licensing.register_equipment(lift, XUHUI, maintenance_unit_uscc=unit)
    body = {"equipment_code": lift, "what": "noisy", "occurred_at": "2014-09-29T08:00:00+08:00"}
    submit(gw, body)
    key = {"Idempotency-Key": f"complaint-{new_uscc()}"}
    first = gw.client.post("/v1/public/complaints", json=body, headers=key)
    second = gw.client.post("/v1/public/complaints", json=body, headers=key)
    assert first.status_code == second.status_code == 201, second.text
    assert first.json()["reference"] == second.json()["reference"]
    for field, value in [
        ("what", "stuck\u0000"),
        ("what", "x" * 2001),
        ("what", "bell\u0007"),
        ("occurred_at", "2014-09-30T08:00:00+08:00"),
        ("equipment_code", "not a code"),
    ]:
        r = gw.client.post("/v1/public/complaints", json={**body, field: value})
        assert r.status_code == 422, (field, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    unknown = {**body, "equipment_code": new_equipment_code()}
    assert gw.client.post("/v1/public/complaints", json=unknown).status_code == 404


def test_public_submissions_are_rate_limited(gateways):
    """The public limiter answers before anything else (here before the body is checked)."""
    limited = gateways(SESP_PUBLIC_RATE="1/m,burst=2")
    body = {"equipment_code": "1", "what": "x", "occurred_at": "2014-09-29T08:00:00+08:00"}
    statuses = [limited.client.post("/v1/public/complaints", json=body) for _ in range(3)]
    assert [r.status_code for r in statuses] == [422, 422, 429]
    assert "retry-after" in statuses[-1].headers
