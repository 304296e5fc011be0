"""A serious-violation listing is a credit veto, over the real bus: licensing, the credit
service and the blacklist as real processes, the gateway in this process. The city bureau
lists a unit on the serious-violation list; the credit service hears the blacklist's
``UnitListed`` and the unit's grade is D with the veto naming the listing. A listing on the
maintenance-quality list (what the credit service's own final D makes) is no veto, a
redelivered listing event applies once, and a credit service started after the listing
vetoes from the blacklist's history."""

from __future__ import annotations

import kombu
import pytest

from infra.testing import ServiceProcess, wait_until
from services.licensing.examples import new_uscc, production_licence
from tests.credit_units import CLOCK, XUHUI, licensed_unit, xuhui_stack

VETO = "serious_violation_listing"


@pytest.fixture(scope="module")
def stack(module_stacks):
    return xuhui_stack(module_stacks, ["licensing", "maintenance_credit", "blacklist"])


@pytest.fixture(scope="module")
def gw(stack):
    return stack.gateway


@pytest.fixture(scope="module")
def admin(gw):
    return gw.headers(gw.token("city_admin"))


def listing(gw, admin, uscc: str, list_: str, listed_on: str = "2014-09-15") -> dict:
    body = {
        "uscc": uscc,
        "name": "上海某电梯维保有限公司",
        "district": XUHUI,
        "list": list_,
        "reason": "伪造维护保养记录",
        "legal_basis": "《特种设备安全法》第八十八条",
        "decision_no": f"沪市监特罚〔2014〕{new_uscc()[-6:]}号",
        "listed_on": listed_on,
    }
    created = gw.client.post("/v1/blacklist/listings", json=body, headers=admin)
    assert created.status_code == 201, created.text
    return created.json()


def credit(gw, admin, uscc: str) -> dict:
    response = gw.client.get(f"/v1/credit/units/{uscc}", headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


def published(stack, service: str, kind: str | None) -> list[dict]:
    """Every ``kind`` event (None: every event) ``service`` has published, page by page."""
    found, position = [], 0
    with stack.rpc() as rpc:
        while True:
            page = getattr(rpc, service).read_all(position, 500)
            found += [m for m in page["events"] if kind in (None, m["type"])]
            if page["next"] == position:
                return found
            position = page["next"]


def veto_records(stack, uscc: str) -> list[dict]:
    """The credit service's published ``VetoRecorded`` events of the unit."""
    return [
        m
        for m in published(stack, "maintenance_credit", "VetoRecorded")
        if m["data"]["uscc"] == uscc
    ]


def test_a_serious_violation_listing_vetoes_and_a_maintenance_quality_one_does_not(
    stack, gw, admin
):
    uscc = licensed_unit(gw, admin)
    assert credit(gw, admin, uscc)["grade"] == "A"
    # first a maintenance-quality listing of the unit, then a serious-violation one: the
    # credit service hears them in this order (one stream), so once the second has made the
    # grade D, the first was heard too and made no veto
    quality = listing(gw, admin, uscc, "maintenance_quality")
    serious = listing(gw, admin, uscc, "serious_violation")
    assert quality["id"] != serious["id"]
    wait_until(
        lambda: credit(gw, admin, uscc)["vetoed"],
        timeout=30,
        what="the credit service to hear of the serious-violation listing",
    )
    score = credit(gw, admin, uscc)
    assert score["grade"] == "D" and score["demerits"] in ("0", "0.00", 0)
    assert score["vetoes"] == [
        {"veto": VETO, "event_id": f"listing-{serious['id']}", "occurred_on": "2014-09-15"}
    ]
    wait_until(lambda: len(veto_records(stack, uscc)) == 1, what="the veto to be published")
    [told] = veto_records(stack, uscc)
    assert told["data"]["veto"] == VETO and told["data"]["period"] == "2014"
    # the listing is the veto's only source: an officer cannot record it as a quality event
    # as well (the fact type is not one of theirs), so the veto is never counted twice
    fact = {
        "event_id": f"sv-{serious['id']}",
        "unit_uscc": uscc,
        "type": "serious_violation_listed",
        "occurred_at": "2014-09-15T10:00:00+08:00",
        "details": {},
    }
    refused = gw.client.post("/v1/quality-events", json=fact, headers=admin)
    assert refused.status_code == 422 and "type" in refused.json()["errors"], refused.text


def test_a_maintenance_quality_listing_alone_is_no_veto(stack, gw, admin):
    uscc = licensed_unit(gw, admin)
    quality = listing(gw, admin, uscc, "maintenance_quality")
    # every event the blacklist has published, this listing's among them, heard by the
    # credit service's consumer (each is applied there once)
    history = wait_until(
        lambda: (
            (found := published(stack, "blacklist", None))
            and any(m["data"].get("listing", {}).get("id") == quality["id"] for m in found)
            and found
        ),
        what="the blacklist to publish the listing",
    )
    wait_until(
        lambda: _blacklist_consumer(stack)["applied"] >= len(history),
        what="the credit service to hear the listing",
    )
    score = credit(gw, admin, uscc)
    assert (score["grade"], score["vetoed"], score["vetoes"]) == ("A", False, [])


def _blacklist_consumer(stack) -> dict:
    with stack.rpc() as rpc:
        [consumer] = [
            c for c in rpc.maintenance_credit.health()["consumers"] if c["source"] == "blacklist"
        ]
    return consumer


def test_a_redelivered_listing_event_applies_once(stack, gw, admin):
    uscc = licensed_unit(gw, admin)
    serious = listing(gw, admin, uscc, "serious_violation")
    wait_until(lambda: credit(gw, admin, uscc)["vetoed"], timeout=30, what="the veto")
    wait_until(lambda: _blacklist_consumer(stack)["catch_up"]["state"] == "live", what="live")
    seen = _blacklist_consumer(stack)
    [message] = [
        m
        for m in published(stack, "blacklist", "UnitListed")
        if m["data"]["listing"]["id"] == serious["id"]
    ]
    with kombu.Connection(stack.amqp_uri) as conn:
        exchange = kombu.Exchange("blacklist.events", type="topic", durable=True)
        kombu.Producer(conn.channel(), exchange=exchange).publish(
            message,
            routing_key=message["type"],
            serializer="json",
            delivery_mode=2,
            message_id=message["event_id"],
        )
    again = wait_until(
        lambda: (c := _blacklist_consumer(stack))["duplicates"] > seen["duplicates"] and c,
        what="the redelivery to arrive",
    )
    assert again["applied"] == seen["applied"]
    assert credit(gw, admin, uscc)["vetoes"] == [
        {"veto": VETO, "event_id": f"listing-{serious['id']}", "occurred_on": "2014-09-15"}
    ]
    assert len(veto_records(stack, uscc)) == 1


def test_the_credit_service_started_later_vetoes_from_the_blacklists_history(stacks):
    """Listed before the credit service has queues: only catch-up can bring it the listing."""
    stack = stacks(["licensing", "blacklist"], gateway=True, clock=CLOCK)
    gw = stack.gateway
    admin = gw.headers(gw.token("city_admin"))
    body = {"bureau": XUHUI, "kinds": ["production_licence"], "effective_from": "2014-01-01"}
    assert gw.client.post("/v1/delegations", json=body, headers=admin).status_code == 201
    uscc = new_uscc()
    licence = production_licence(uscc, scope=("elevator:maintenance",), level=None, district=XUHUI)
    app = gw.client.post("/v1/applications", json=licence, headers=admin)
    assert app.status_code == 201, app.text
    base = f"/v1/applications/{app.json()['id']}"
    assert gw.client.post(f"{base}/accept", json={}, headers=admin).status_code == 200
    approved = gw.client.post(f"{base}/approve", json={"opinion": "ok"}, headers=admin)
    assert approved.status_code == 200, approved.text
    serious = listing(gw, admin, uscc, "serious_violation")

    stack.wait_published(["licensing", "blacklist"])
    url = f"sqlite:///{stack.data_dir / 'maintenance_credit.db'}"
    env = {**stack.env, "SESP_MAINTENANCE_CREDIT_DATABASE_URL": url}
    stack.processes["maintenance_credit"] = ServiceProcess(
        "maintenance_credit", env, stack.data_dir / "maintenance_credit.log"
    ).start()  # the stack stops it with the others
    stack.wait_ready(["maintenance_credit"])

    def score() -> dict | None:
        response = gw.client.get(f"/v1/credit/units/{uscc}", headers=admin)
        return response.json() if response.status_code == 200 else None

    # the unit from licensing's history, the veto from the blacklist's (in either order)
    vetoed = wait_until(
        lambda: (s := score()) and s["vetoed"] and s,
        timeout=60,
        what="the credit service to veto from the blacklist's history",
    )
    assert vetoed["grade"] == "D"
    assert [v["event_id"] for v in vetoed["vetoes"]] == [f"listing-{serious['id']}"]
