"""The USCC exception list: city_admin keeps it over the API, and every input that takes a
credit code (a token's scope, an application, an insurer's policyholders, one pushed in a
batch that only the service validates) accepts a listed code, at the edge and again in the
service, from the next request on; taken off the list, it is refused again.

Licensing and insurance run as real processes, the gateway in this process.
"""

from __future__ import annotations

import pytest

from gateway.auth import APPLICANT, CITY_ADMIN, INSURER
from infra.errors import Invalid
from services.licensing.examples import (
    new_equipment_code,
    new_failing_uscc,
    new_uscc,
    production_licence,
)

ROOT = "/v1/admin/uscc-exceptions"


@pytest.fixture(scope="module")
def stack(module_stacks):
    return module_stacks(["licensing", "insurance"], gateway=True)


@pytest.fixture(scope="module")
def admin(stack):
    return stack.client(stack.token(CITY_ADMIN))


def policy(holder: str, policy_no: str | None = None) -> dict:
    body = {
        "revision": 1,
        "policyholders": [{"uscc": holder, "name": "Owner Co", "role": "owner", "share": "1"}],
        "equipment_codes": [new_equipment_code()],
        "cover": "liability",
        "limits": {"per_accident": "1000000.00", "per_person": "800000.00"},
        "premium": "93.00",
        "starts_on": "2014-07-01",
        "ends_on": "2015-06-30",
        "status": "active",
    }
    return {"policy_no": policy_no, **body} if policy_no else body


def inputs(stack, admin, code: str) -> dict[str, int]:
    """The status each input answers for ``code`` (the batch: its one result's status)."""
    insurer = stack.client(stack.token(INSURER, uscc=new_uscc()))
    token = admin.post("/v1/admin/tokens", {"role": APPLICANT, "uscc": code, "name": "Unit"})
    application = admin.post("/v1/applications", production_licence(code))
    no = f"EX-{new_uscc()[-8:]}"
    put = insurer.http.put(f"/v1/insurance/policies/{no}", json=policy(code))
    batch = insurer.post("/v1/insurance/policies:batch", {"policies": [policy(code, no + "B")]})
    assert batch.status_code == 200, batch.text
    return {
        "token": token.status_code,
        "application": application.status_code,
        "policy": put.status_code,
        "batch": batch.json()["results"][0]["status"],
    }


def test_a_listed_code_is_accepted_by_every_input_until_it_is_taken_off(stack, admin):
    code = new_failing_uscc()
    refused = {"token": 422, "application": 422, "policy": 422, "batch": 422}
    assert inputs(stack, admin, code) == refused

    listed = admin.http.put(f"{ROOT}/{code.lower()}", json={"note": "issued by the registry"})
    assert listed.status_code == 201, listed.text
    assert listed.json()["uscc"] == code
    assert inputs(stack, admin, code) == {
        "token": 201,
        "application": 201,
        "policy": 201,
        "batch": 201,
    }

    assert admin.http.delete(f"{ROOT}/{code}").status_code == 204
    assert inputs(stack, admin, code) == refused


def test_the_refusal_names_the_field(stack, admin):
    code = new_failing_uscc()
    response = admin.post("/v1/applications", production_licence(code))
    assert response.status_code == 422
    assert "check character expected" in response.json()["errors"]["applicant.uscc"][0]


def test_the_list_is_read_changed_and_paged(stack, admin):
    codes = sorted(new_failing_uscc() for _ in range(3))
    for code in codes:
        assert admin.http.put(f"{ROOT}/{code}", json={"note": "first"}).status_code == 201
    again = admin.http.put(f"{ROOT}/{codes[0]}", json={"note": "second"})
    assert again.status_code == 200 and again.json()["note"] == "second"
    assert admin.get(f"{ROOT}/{codes[1]}").json()["note"] == "first"
    seen, cursor = [], None
    while True:
        page = admin.get(ROOT, limit=2, cursor=cursor).json()
        seen += [item["uscc"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert set(codes) <= set(seen) and seen == sorted(seen)
    assert admin.get(f"{ROOT}/{new_failing_uscc()}").status_code == 404
    assert admin.http.delete(f"{ROOT}/{new_failing_uscc()}").status_code == 404


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (new_uscc(), "passes the check already"),
        ("91350203M0001QAY9", "18 ASCII letters and digits"),
        ("91350203M0001QAY9-", "18 ASCII letters and digits"),
        ("９1350203M0001QAY9B", "18 ASCII letters and digits"),
    ],
)
def test_only_a_code_that_fails_the_check_can_be_listed(stack, admin, code, message):
    response = admin.http.put(f"{ROOT}/{code}", json={"note": "x"})
    assert response.status_code == 422, response.text
    assert message in response.json()["errors"]["uscc"][0]


def test_a_service_called_without_the_gateway_admits_no_exception(stack, admin):
    """The list reaches a service only with a request that names the code (the RPC
    context): another caller of the service's RPC gets the plain check."""
    code = new_failing_uscc()
    assert admin.http.put(f"{ROOT}/{code}", json={"note": "listed"}).status_code == 201
    with stack.rpc() as rpc, pytest.raises(Invalid):
        rpc.licensing.submit_application(production_licence(code))
