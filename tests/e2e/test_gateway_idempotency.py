"""Idempotency-Key on POST: a retry returns the first response without reaching the service
again, across a gateway restart, on SQLite and PostgreSQL; racing duplicates never run twice."""

from __future__ import annotations

import uuid
from collections import Counter

import eventlet
import pytest
from marshmallow import fields
from nameko.rpc import rpc

from gateway.auth import APPLICANT, CITY_ADMIN
from gateway.call import Call
from gateway.routing import route
from gateway.service import GatewayService
from infra.errors import Conflict
from infra.schemas import Strict

CALLS: Counter = Counter()


class Order(Strict):
    ref = fields.String(required=True)
    amount = fields.Integer(required=True)
    slow = fields.Boolean(load_default=False)
    fail = fields.String()


class CountingLicensing:
    """Counts how often each ``ref`` reaches the service."""

    name = "licensing"

    @rpc
    def ping(self):
        return {"service": self.name, "ok": True}

    @rpc
    def place(self, order):
        CALLS[order["ref"]] += 1
        if order.get("slow"):
            eventlet.sleep(1.0)
        if order.get("fail") == "conflict":
            raise Conflict("already placed")
        if order.get("fail") == "crash":
            raise RuntimeError("boom")
        return {"ref": order["ref"], "amount": order["amount"], "id": uuid.uuid4().hex}


class OrderRoutes:
    @route(
        "POST",
        "/v1/test/orders",
        roles=[CITY_ADMIN, APPLICANT],
        tag="Test",
        summary="place",
        body=Order,
    )
    def place(self, call: Call):
        return 201, self.rpc.licensing.place(call.body), {"Location": "/v1/test/orders/x"}


class OrderGateway(OrderRoutes, GatewayService):
    name = "gateway"


@pytest.fixture(scope="module")
def licensing(stub_services):
    return stub_services([CountingLicensing])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory):
    """The gateway database on both backends (a fresh one per backend for the module)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('idem') / 'gateway.db'}"
        return
    postgres = request.getfixturevalue("postgres")
    url = postgres.create_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture(scope="module")
def gw(gateways, licensing, db_url):
    return gateways(db_url=db_url, service_cls=OrderGateway, SESP_IDEMPOTENCY_WAIT="5")


def order(**extra):
    return {"ref": uuid.uuid4().hex, "amount": 3, **extra}


def post(gw, token, body, key, **headers):
    headers = gw.headers(token, **({"Idempotency-Key": key} if key else {}), **headers)
    return gw.client.post("/v1/test/orders", json=body, headers=headers)


def test_a_retry_returns_the_first_response_without_calling_the_service(gw):
    token = gw.token(CITY_ADMIN)
    body = order()
    first = post(gw, token, body, "key-1")
    assert first.status_code == 201
    again = post(gw, token, body, "key-1")
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["location"] == "/v1/test/orders/x"
    assert again.headers["idempotent-replayed"] == "true"
    assert CALLS[body["ref"]] == 1


def test_without_a_key_every_post_runs(gw):
    token = gw.token(CITY_ADMIN)
    body = order()
    post(gw, token, body, None)
    post(gw, token, body, None)
    assert CALLS[body["ref"]] == 2


def test_the_same_key_with_another_body_is_422(gw):
    token = gw.token(CITY_ADMIN)
    body = order()
    assert post(gw, token, body, "key-2").status_code == 201
    response = post(gw, token, {**body, "amount": 4}, "key-2")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Idempotency-Key" in response.json()["errors"]
    assert CALLS[body["ref"]] == 1


def test_keys_belong_to_their_caller(gw):
    body = order()
    a = post(gw, gw.token(CITY_ADMIN), body, "shared-key")
    b = post(gw, gw.token(CITY_ADMIN), body, "shared-key")
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_an_error_answer_is_replayed_too(gw):
    token = gw.token(CITY_ADMIN)
    body = order(fail="conflict")
    assert post(gw, token, body, "key-3").status_code == 409
    assert post(gw, token, body, "key-3").status_code == 409
    assert CALLS[body["ref"]] == 1


def test_a_5xx_answer_is_not_stored_so_a_retry_runs_again(gw):
    token = gw.token(CITY_ADMIN)
    body = order(fail="crash")
    assert post(gw, token, body, "key-4").status_code == 502
    assert post(gw, token, body, "key-4").status_code == 502
    assert CALLS[body["ref"]] == 2


def test_a_key_over_64_characters_is_refused(gw):
    token = gw.token(CITY_ADMIN)
    assert post(gw, token, order(), "k" * 65).status_code == 422
    assert post(gw, token, order(), "k" * 64).status_code == 201


def test_racing_duplicates_run_once(gw):
    token = gw.token(CITY_ADMIN)
    body = order(slow=True)
    pool = eventlet.GreenPool()
    responses = list(pool.imap(lambda _: post(gw, token, body, "race-key"), range(4)))
    assert CALLS[body["ref"]] == 1
    statuses = sorted(r.status_code for r in responses)
    assert all(s in (201, 409) for s in statuses) and statuses[0] == 201
    winners = {r.content for r in responses if r.status_code == 201}
    assert len(winners) == 1


def test_the_stored_response_survives_a_gateway_restart(gateways, licensing, db_url):
    first_gw = gateways(db_url=db_url, service_cls=OrderGateway)
    token = first_gw.token(CITY_ADMIN)
    body = order()
    first = post(first_gw, token, body, "restart-key")
    assert first.status_code == 201
    first_gw.stop()

    second_gw = gateways(db_url=db_url, service_cls=OrderGateway)
    again = post(second_gw, token, body, "restart-key")
    assert again.status_code == 201
    assert again.content == first.content
    assert CALLS[body["ref"]] == 1
    assert post(second_gw, token, {**body, "amount": 9}, "restart-key").status_code == 422
