"""The gateway's idempotency records hold no secret and no personal data in clear, on SQLite and
PostgreSQL: a response naming a person is replayed to its caller only; a new token's secret is
stored nowhere and a replayed creation answers 409; ``erase_person`` drops the responses that
named a person (410); a stolen record opens for no other caller."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from marshmallow import fields

from gateway.auth import CITY_ADMIN
from gateway.call import Call
from gateway.routing import route
from gateway.service import GatewayService
from infra.schemas import Strict
from services.licensing.examples import new_resident_id

NAME = "Wang Wu"


class Holder(Strict):
    id_number = fields.String(required=True)
    name = fields.String(required=True)


class EchoRoutes:
    @route("POST", "/v1/test/holders", roles=[CITY_ADMIN], tag="Test", summary="echo", body=Holder)
    def echo(self, call: Call):
        return 201, {"id": uuid.uuid4().hex, **call.body}, {"Location": "/v1/test/holders/x"}


class EchoGateway(EchoRoutes, GatewayService):
    name = "gateway"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sealed') / 'gateway.db'}"
        return
    postgres = request.getfixturevalue("postgres")
    url = postgres.create_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture(scope="module")
def gw(gateways, db_url):
    return gateways(db_url=db_url, service_cls=EchoGateway)


def everything_stored(gw) -> str:
    """Every value of every row of every table of the gateway database, as text."""
    engine = gw.core.engine
    out = []
    tables = sa.inspect(engine).get_table_names()
    with engine.connect() as conn:
        for table in tables:
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                out.extend(
                    v.decode("latin-1") if isinstance(v, bytes | memoryview) else str(v)
                    for v in (bytes(x) if isinstance(x, memoryview) else x for x in row)
                )
    return "\n".join(out)


def test_a_token_secret_is_stored_nowhere_and_never_handed_out_again(gw):
    admin = gw.headers(gw.token(CITY_ADMIN), **{"Idempotency-Key": "make-desk"})
    body = {"role": CITY_ADMIN, "name": "desk"}
    made = gw.client.post("/v1/admin/tokens", json=body, headers=admin)
    assert made.status_code == 201
    secret = made.json()["token"]
    again = gw.client.post("/v1/admin/tokens", json=body, headers=admin)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    problem = again.json()
    assert problem["type"].endswith("shown-once")
    assert problem["applied"]["id"] == made.json()["id"] and "token" not in problem["applied"]
    assert secret not in again.text
    assert secret not in everything_stored(gw)
    assert gw.client.get("/v1/admin/tokens", headers=gw.headers(secret)).status_code == 200


def test_a_response_naming_a_person_is_replayed_to_its_caller_only_and_erasable(gw):
    token = gw.token(CITY_ADMIN)
    id_number = new_resident_id("19700101")
    body = {"id_number": id_number, "name": NAME}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = gw.client.post("/v1/test/holders", json=body, headers=gw.headers(token, **key))
    assert first.status_code == 201
    again = gw.client.post("/v1/test/holders", json=body, headers=gw.headers(token, **key))
    assert again.status_code == 201 and again.json() == first.json()
    stored = everything_stored(gw)
    assert id_number not in stored and NAME not in stored and key["Idempotency-Key"] not in stored

    # What the gateway's erase_person RPC does (sesp erase; the scan test goes through it).
    assert gw.core.idempotency.erase_person(id_number) == 1
    gone = gw.client.post("/v1/test/holders", json=body, headers=gw.headers(token, **key))
    assert gone.status_code == 410 and gone.json()["type"].endswith("response-erased")
    assert gone.headers["location"] == "/v1/test/holders/x"
    assert id_number not in gone.text and NAME not in gone.text


def test_another_caller_cannot_read_a_stored_response(gw):
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"id_number": new_resident_id("19700101"), "name": NAME}
    owner = gw.headers(gw.token(CITY_ADMIN), **key)
    assert gw.client.post("/v1/test/holders", json=body, headers=owner).status_code == 201
    thief = gw.token(CITY_ADMIN)
    principal = gw.core.tokens.authenticate(thief)
    assert principal is not None
    with gw.core.engine.begin() as conn:  # someone with the database gives it to themselves
        conn.execute(
            sa.text("UPDATE idempotency_records SET caller = :thief WHERE body IS NOT NULL"),
            {"thief": principal.id},
        )
    stolen = gw.client.post("/v1/test/holders", json=body, headers=gw.headers(thief, **key))
    assert stolen.status_code == 422  # neither the request hash nor the body opens for them
