"""Every error the gateway answers is problem+json, with the status API.md prescribes.

The gateway runs in-process on a fresh vhost of the real broker and is called over real HTTP.
A test subclass adds routes that call stub services, so that the mapping of domain errors,
unknown remote errors, missing services and timeouts is exercised end to end.
"""

from __future__ import annotations

import json

import eventlet
import httpx
import pytest
from marshmallow import fields, validate
from nameko.rpc import rpc

from gateway.auth import CITY_ADMIN
from gateway.call import Call
from gateway.routing import route
from gateway.service import GatewayService
from infra.bus.context import RequestContext
from infra.errors import Conflict, Invalid, NotFound, PreconditionFailed, Stale
from infra.schemas import Strict

PROBLEM = "application/problem+json"


class Location(Strict):
    district = fields.String(required=True, validate=validate.Regexp(r"^3101\d\d$"))
    in_ftz = fields.Boolean(required=True)


class Material(Strict):
    name = fields.String(required=True)
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


class Probe(Strict):
    location = fields.Nested(Location, required=True)
    materials = fields.List(fields.Nested(Material), required=True)


class ErrorProbeRoutes:
    @route("POST", "/v1/test/probe", roles=[CITY_ADMIN], tag="Test", summary="probe", body=Probe)
    def probe(self, call: Call):
        return 201, {"ok": True}

    @route("POST", "/v1/test/raise/{kind}", roles=[CITY_ADMIN], tag="Test", summary="raise")
    def raise_(self, call: Call):
        return self.rpc.licensing.fail(call.path["kind"])

    @route("GET", "/v1/test/absent", roles=[CITY_ADMIN], tag="Test", summary="absent")
    def absent(self, call: Call):
        return self.rpc.absent_service.ping()

    @route("POST", "/v1/test/versioned", roles=[CITY_ADMIN], tag="Test", summary="v", if_match=True)
    def versioned(self, call: Call):
        call.check_version(3)
        return {"version": 4}

    @route("POST", "/v1/test:batch", roles=[CITY_ADMIN], tag="Test", summary="batch")
    def batch(self, call: Call):
        return {"ok": True}


class ProbeGateway(ErrorProbeRoutes, GatewayService):
    name = "gateway"


class LicensingStub:
    """Stands in for licensing: raises what it is told, records the context it was called in."""

    name = "licensing"
    ctx = RequestContext()
    seen: dict = {}

    @rpc
    def ping(self):
        return {"service": self.name, "ok": True}

    @rpc
    def fail(self, kind):
        LicensingStub.seen = {"request_id": self.ctx.request_id, "actor": self.ctx.actor}
        errors = {
            "not_found": NotFound("no application 42"),
            "invalid": Invalid("bad", {"subject.equipment_code": ["bad check digit"]}),
            "conflict": Conflict("status is approved"),
            "stale": Stale("revision 3 is older than 5"),
            "precondition": PreconditionFailed("version is 7"),
            "key_error": KeyError("secret internal detail"),
        }
        if kind == "slow":
            eventlet.sleep(5)
        if kind in errors:
            raise errors[kind]
        return {"ok": True}


@pytest.fixture(scope="module")
def gw(gateways, stub_services):
    stub_services([LicensingStub])
    return gateways(service_cls=ProbeGateway, SESP_RPC_TIMEOUT="1")


@pytest.fixture
def admin(gw):
    return gw.headers(gw.token(CITY_ADMIN))


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


def test_unknown_route_is_a_404_problem(gw):
    assert_problem(gw.client.get("/v1/nothing-here"), 404)


def test_wrong_method_is_a_405_problem_naming_the_allowed_ones(gw):
    response = gw.client.put("/healthz")
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]


def test_missing_token_is_401_with_a_bearer_challenge(gw):
    response = gw.client.post("/v1/test/probe", json={})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_malformed_json_is_400(gw, admin):
    response = gw.client.post(
        "/v1/test/probe",
        content=b'{"location": ',
        headers={**admin, "Content-Type": "application/json"},
    )
    assert_problem(response, 400)


def test_validation_errors_are_422_keyed_by_dotted_field_path(gw, admin):
    body = {
        "location": {"district": "999999", "in_ftz": True},
        "materials": [{"name": "a", "sha256": "0" * 64}, {"name": "b", "sha256": "xyz"}],
    }
    problem = assert_problem(gw.client.post("/v1/test/probe", json=body, headers=admin), 422)
    assert set(problem["errors"]) == {"location.district", "materials.1.sha256"}


def test_unknown_top_level_field_is_422(gw, admin):
    body = {"location": {"district": "310115", "in_ftz": True}, "materials": [], "extra": 1}
    problem = assert_problem(gw.client.post("/v1/test/probe", json=body, headers=admin), 422)
    assert problem["errors"] == {"extra": ["Unknown field."]}


def test_a_valid_body_passes(gw, admin):
    body = {"location": {"district": "310115", "in_ftz": True}, "materials": []}
    assert gw.client.post("/v1/test/probe", json=body, headers=admin).status_code == 201


def test_wrong_content_type_is_415(gw, admin):
    response = gw.client.post(
        "/v1/test/probe", content=b"location=1", headers={**admin, "Content-Type": "text/plain"}
    )
    assert_problem(response, 415)
    response = gw.client.post("/v1/test/probe", content=b"{}", headers=admin)  # no type at all
    assert_problem(response, 415)


def test_an_empty_body_is_an_empty_object_whatever_its_type(gw, admin):
    problem = assert_problem(gw.client.post("/v1/test/probe", headers=admin), 422)
    assert set(problem["errors"]) == {"location", "materials"}


def test_body_over_1_mib_is_413_from_content_length(gw, admin):
    big = json.dumps({"pad": "x" * (1024 * 1024)}).encode()
    response = gw.client.post(
        "/v1/test/probe", content=big, headers={**admin, "Content-Type": "application/json"}
    )
    assert_problem(response, 413)


def test_body_over_1_mib_is_413_while_streaming_a_chunked_body(gw, admin):
    def chunks():
        for _ in range(40):
            yield b"x" * 65536  # 2.5 MiB in all, no Content-Length

    response = gw.client.post(
        "/v1/test/probe", content=chunks(), headers={**admin, "Content-Type": "application/json"}
    )
    assert_problem(response, 413)


def test_batch_endpoints_take_up_to_5_mib(gw, admin):
    headers = {**admin, "Content-Type": "application/json"}
    three_mib = json.dumps({"pad": "x" * (3 * 1024 * 1024)}).encode()
    response = gw.client.post("/v1/test:batch", content=three_mib, headers=headers)
    assert_problem(response, 422)  # read whole, then refused for its content, not its size
    six_mib = json.dumps({"pad": "x" * (6 * 1024 * 1024)}).encode()
    assert_problem(gw.client.post("/v1/test:batch", content=six_mib, headers=headers), 413)
    assert gw.client.post("/v1/test:batch", json={}, headers=admin).status_code == 200


@pytest.mark.parametrize(
    ("kind", "status", "slug"),
    [
        ("not_found", 404, "not-found"),
        ("invalid", 422, "validation"),
        ("conflict", 409, "conflict"),
        ("stale", 409, "stale"),
        ("precondition", 412, "precondition-failed"),
    ],
)
def test_domain_errors_map_to_their_status(gw, admin, kind, status, slug):
    problem = assert_problem(gw.client.post(f"/v1/test/raise/{kind}", headers=admin), status)
    assert problem["type"].endswith(slug)
    if kind == "invalid":
        assert problem["errors"] == {"subject.equipment_code": ["bad check digit"]}


def test_an_unknown_remote_error_is_502_without_internals(gw, admin):
    response = gw.client.post("/v1/test/raise/key_error", headers=admin)
    problem = assert_problem(response, 502)
    assert "secret internal detail" not in response.text
    assert "KeyError" not in response.text
    assert problem["request_id"] == response.headers["x-request-id"]


def test_a_missing_service_is_503(gw, admin):
    assert_problem(gw.client.get("/v1/test/absent", headers=admin), 503)


def test_a_service_that_does_not_answer_is_504(gw, admin):
    assert_problem(gw.client.post("/v1/test/raise/slow", headers=admin), 504)


def test_if_match_mismatch_is_412_and_a_match_passes(gw, admin):
    url = "/v1/test/versioned"
    assert_problem(gw.client.post(url, headers={**admin, "If-Match": '"2"'}), 412)
    assert_problem(gw.client.post(url, headers={**admin, "If-Match": "nonsense"}), 412)
    assert gw.client.post(url, headers={**admin, "If-Match": '"3"'}).json() == {"version": 4}
    assert gw.client.post(url, headers=admin).status_code == 200


def test_x_request_id_is_echoed_when_valid_and_replaced_when_not(gw):
    response = gw.client.get("/healthz", headers={"X-Request-ID": "abc.123_-X"})
    assert response.headers["x-request-id"] == "abc.123_-X"
    for bad in ["has space", "x" * 129, "semi;colon"]:
        response = gw.client.get("/healthz", headers={"X-Request-ID": bad})
        assert response.headers["x-request-id"] != bad
        assert len(response.headers["x-request-id"]) == 32
    response = gw.client.get("/nowhere")
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_the_request_id_and_actor_reach_the_service(gw, admin):
    response = gw.client.post("/v1/test/raise/x", headers={**admin, "X-Request-ID": "trace-1"})
    assert response.status_code == 200
    assert LicensingStub.seen["request_id"] == "trace-1"
    assert LicensingStub.seen["actor"]["role"] == CITY_ADMIN
    assert LicensingStub.seen["actor"]["id"].startswith("tok_")
