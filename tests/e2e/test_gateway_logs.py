"""What the log says about a request, as an operator reads it: a refusal (4xx) is the gateway's
one INFO access line with its request id and problem type, not a WARNING or ERROR with a
traceback from nameko in the service and again in the gateway; a failure still logs at ERROR
with its request id; the HTTP server's own lines are JSON records, not plain text on stderr.

The gateway and stub services run in this process on a fresh vhost, with the log filters every
process installs (``infra.logs``); requests go over real HTTP.
"""

from __future__ import annotations

import json
import logging
import socket

import pytest
from nameko.rpc import rpc as nameko_rpc

from infra.bus.entrypoints import rpc as kernel_rpc
from infra.errors import Invalid, NotFound
from infra.logs import JsonFormatter, install_filters
from tests.stacks import make_stub_service


def get_policy(self, policy_no, insurer):
    if policy_no == "BROKEN-1":
        raise RuntimeError("the read model is corrupt")
    raise NotFound(f"policy {policy_no} not found")


def policies_ending(self, ending_within, insurer, limit, after):
    raise Invalid("ending too far", {"ending_within": ["at most 365"]})


@pytest.fixture(scope="module")
def gw(gateways, stub_services):
    # A kernel RPC (refusals expected) and a plain nameko one (where nameko logs a refusal
    # at ERROR): a refusal is an answer either way.
    stub = make_stub_service("insurance")
    stub.get_policy = kernel_rpc(get_policy)
    stub.policies_ending = nameko_rpc(policies_ending)
    stub_services([stub])
    return gateways()


@pytest.fixture(autouse=True)
def filters():
    added = install_filters()
    yield
    for logger, kind in added:
        logger.removeFilter(kind)


@pytest.fixture
def official(gw):
    return gw.headers(gw.token("city_admin"))


def lines_of(caplog, request_id: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "request_id", None) == request_id]


@pytest.mark.parametrize(
    ("path", "status", "problem"),
    [
        ("/v1/insurance/policies/NOPE-1", 404, "not-found"),
        ("/v1/insurance/policies?ending_within=30", 422, "validation"),
    ],
)
def test_a_refusal_is_one_info_line_with_its_request_id(
    gw, official, caplog, path, status, problem
):
    caplog.set_level(logging.INFO)
    request_id = f"refused-{status}"
    response = gw.client.get(path, headers={**official, "X-Request-ID": request_id})
    assert response.status_code == status, response.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
    ]
    [line] = lines_of(caplog, request_id)
    out = json.loads(JsonFormatter("gateway").format(line))
    assert out["level"] == "info" and "exc" not in out
    assert out["status"] == status and out["problem"] == problem


def test_a_failure_still_logs_an_error_with_its_request_id(gw, official, caplog):
    caplog.set_level(logging.INFO)
    response = gw.client.get(
        "/v1/insurance/policies/BROKEN-1", headers={**official, "X-Request-ID": "broken-1"}
    )
    assert response.status_code == 502, response.text
    errors = [r for r in lines_of(caplog, "broken-1") if r.levelno == logging.ERROR]
    assert errors
    assert any("RuntimeError" in json.loads(JsonFormatter("x").format(r))["exc"] for r in errors)


def test_a_request_the_server_cannot_parse_is_one_json_line_not_plain_text(gw, caplog, capfd):
    caplog.set_level(logging.INFO)
    with socket.create_connection(("127.0.0.1", gw.port)) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        answer = sock.recv(4096)
    assert json.loads(answer)["status"] == 400  # an HTTP/0.9 request line: the body alone
    [line] = [r for r in caplog.records if "GARBAGE" in r.getMessage()]
    assert line.levelno == logging.INFO and getattr(line, "status", None) == 400
    captured = capfd.readouterr()
    assert "GARBAGE" not in captured.err and "Bad request" not in captured.err
