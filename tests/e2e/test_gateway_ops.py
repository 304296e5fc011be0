"""Operations endpoints, pages, rate limits and logs of the gateway, over real HTTP."""

from __future__ import annotations

import json
import logging
import os
import uuid

import pytest

from gateway.auth import CITY_ADMIN
from gateway.call import Call
from gateway.routing import PUBLIC, route
from gateway.service import GatewayService
from infra import registry
from infra.logs import JsonFormatter
from infra.preflight import DEFAULT_TEST_REDIS
from tests.stacks import make_stub_service

SERVICES = registry.names()


class PublicProbeRoutes:
    @route("GET", "/v1/public/probe", roles=PUBLIC, tag="Test", summary="public probe")
    def public_probe(self, call: Call):
        return {"ok": True}


class ProbeGateway(PublicProbeRoutes, GatewayService):
    name = "gateway"


@pytest.fixture(scope="module")
def gw(gateways):
    return gateways(SESP_READY_TIMEOUT="0.5")


def test_healthz_answers_ok(gw):
    response = gw.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_names_every_missing_service_then_turns_ready(gw, stub_services):
    response = gw.client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    for service in SERVICES:
        assert service in problem["detail"]
        assert problem["checks"][service] == "not running"
    assert problem["checks"]["broker"] == "ok" and problem["checks"]["database"] == "ok"

    stub_services([make_stub_service(name) for name in SERVICES[:2]])
    problem = gw.client.get("/readyz").json()
    assert [s for s in SERVICES if problem["checks"][s] != "ok"] == list(SERVICES[2:])

    stub_services([make_stub_service(name) for name in SERVICES[2:]])
    response = gw.client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ready"
    assert set(response.json()["checks"].values()) == {"ok"}


def test_metrics_count_requests_by_route_template_and_time_rpcs(gw):
    token = gw.token(CITY_ADMIN)
    gw.client.delete("/v1/admin/tokens/tok_unknown", headers=gw.headers(token))
    gw.client.get("/no/such/path")
    gw.client.get("/readyz")
    response = gw.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'sesp_http_requests_total{method="DELETE",route="/v1/admin/tokens/{token_id}",'
        'status="404"}' in text
    )
    assert 'route="<unmatched>",status="404"' in text
    assert 'sesp_http_request_duration_seconds_bucket{le="0.005",method="GET"' in text
    assert 'sesp_rpc_duration_seconds_count{outcome="ok",target="licensing.ping"}' in text


def test_openapi_describes_every_route_as_openapi_3_1(gw):
    spec = gw.client.get("/openapi.json").json()
    assert spec["openapi"] == "3.1.0"
    assert "/v1/admin/tokens/{token_id}" in spec["paths"]
    create = spec["paths"]["/v1/admin/tokens"]["post"]
    assert create["x-roles"] == [CITY_ADMIN]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/TokenCreate"
    )
    assert {"201", "401", "403", "413", "415", "422"} <= set(create["responses"])
    assert spec["components"]["schemas"]["TokenCreate"]["additionalProperties"] is False
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


@pytest.mark.parametrize("path", ["/docs", "/"])
def test_html_pages_carry_security_headers(gw, path):
    response = gw.client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "script-src" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "http://" not in response.text and "https://" not in response.text  # no CDN


def test_docs_lists_every_endpoint_with_its_roles(gw):
    text = gw.client.get("/docs").text
    spec = gw.client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method in operations:
            assert f">{method.upper()}</span> <code>{path}</code>" in text
    assert "city_admin" in text and 'id="problem-validation"' in text


def test_json_responses_are_not_cached_and_never_sniffed(gw):
    response = gw.client.get("/healthz")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_public_endpoints_are_rate_limited_per_client_with_retry_after(gateways):
    gw = gateways(service_cls=ProbeGateway, SESP_PUBLIC_RATE="1/m,burst=3")
    statuses = [gw.client.get("/v1/public/probe").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    response = gw.client.get("/v1/public/probe")
    assert response.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert gw.client.get("/v1/public/no-such-thing").status_code == 429
    assert gw.client.get("/healthz").status_code == 200  # only /v1/public/ is limited


def test_replicas_share_the_public_rate_limit_through_the_store(gateways):
    """Two gateway processes (replicas behind a load balancer) count one client together:
    without the shared store each would allow the whole rate."""
    shared = {
        "SESP_PUBLIC_RATE": "1/m,burst=4",
        "SESP_RATE_LIMIT_STORAGE": os.environ.get("SESP_TEST_REDIS_URL", DEFAULT_TEST_REDIS),
        "SESP_RATE_LIMIT_NAMESPACE": f"test-{uuid.uuid4().hex}",  # this test's counts only
    }
    one = gateways(service_cls=ProbeGateway, **shared)
    two = gateways(service_cls=ProbeGateway, **shared)
    statuses = [gw.client.get("/v1/public/probe").status_code for gw in [one, two] * 4]
    assert statuses == [200, 200, 200, 200, 429, 429, 429, 429]
    refused = two.client.get("/v1/public/probe")
    assert 1 <= int(refused.headers["retry-after"]) <= 240


def test_each_request_logs_one_json_line_with_its_request_id(gw):
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep()
    logger = logging.getLogger("sesp.gateway.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        gw.client.get("/v1/admin/tokens", headers={"X-Request-ID": "log-me-42"})
    finally:
        logger.removeHandler(handler)
    [record] = [r for r in records if getattr(r, "request_id", None) == "log-me-42"]
    line = json.loads(JsonFormatter("gateway").format(record))
    assert line["route"] == "/v1/admin/tokens"
    assert line["status"] == 401
    assert line["duration_ms"] >= 0
    assert line["msg"] == "GET /v1/admin/tokens 401"
