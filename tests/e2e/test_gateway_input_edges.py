"""Odd input is the client's mistake: 4xx problem+json naming what is wrong, never a 5xx.

Each case here once answered 500 or 502 (or an HTML page): a forged page cursor, a lone
surrogate in a JSON string, NUL in a string or a URL parameter, an If-Match with a non-ASCII
digit, a URL that is not UTF-8, a request line the HTTP server cannot parse. And an invented
HTTP method must not grow the metrics. The gateway runs in-process on the real broker, called
over real sockets.
"""

from __future__ import annotations

import socket

import pytest
from marshmallow import fields

from gateway.auth import CITY_ADMIN
from gateway.call import Call
from gateway.routing import PUBLIC, route
from gateway.service import GatewayService
from infra.paging import PageQuery, decode_cursor, encode_cursor, page_of
from infra.schemas import Strict

PROBLEM = "application/problem+json"
NUMBERS = list(range(25))


class Note(Strict):
    text = fields.String(required=True)
    tags = fields.List(fields.String(), load_default=list)


class EdgeRoutes:
    @route("POST", "/v1/test/notes", roles=[CITY_ADMIN], tag="Test", summary="note", body=Note)
    def note(self, call: Call):
        return 201, call.body

    @route("POST", "/v1/test/versioned", roles=[CITY_ADMIN], tag="Test", summary="v", if_match=True)
    def versioned(self, call: Call):
        call.check_version(3)
        return {"version": 4}

    @route("GET", "/v1/test/things/{thing_id}", roles=[CITY_ADMIN], tag="Test", summary="t")
    def thing(self, call: Call):
        return {"id": call.path["thing_id"]}

    @route("GET", "/v1/public/test-numbers", roles=PUBLIC, tag="Test", summary="n", query=PageQuery)
    def numbers(self, call: Call):
        cursor = call.query.get("cursor")
        after = decode_cursor(cursor, 1)[0] if cursor else -1
        limit = call.query["limit"]
        items = [{"n": n} for n in NUMBERS if n > after][: limit + 1]
        return page_of(items, limit, lambda item: [item["n"]])


class EdgeGateway(EdgeRoutes, GatewayService):
    name = "gateway"


@pytest.fixture(scope="module")
def gw(gateways):
    return gateways(service_cls=EdgeGateway)


@pytest.fixture
def admin(gw):
    return gw.headers(gw.token(CITY_ADMIN))


def raw_request(gw, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client library would send these) and read the answer."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def test_pages_follow_their_cursors_to_the_end(gw):
    seen, url = [], "/v1/public/test-numbers?limit=10"
    while url:
        page = gw.client.get(url).json()
        seen += [item["n"] for item in page["items"]]
        url = (
            page["next_cursor"] and f"/v1/public/test-numbers?limit=10&cursor={page['next_cursor']}"
        )
    assert seen == NUMBERS


@pytest.mark.parametrize(
    "cursor",
    [
        "W3siYSI6MX1d",  # base64 of [{"a":1}]: what a client can forge without the key
        "W10",  # base64 of []
        "not-a-cursor",
        "%%%",
    ],
)
def test_a_cursor_the_api_did_not_hand_out_is_422_on_cursor(gw, cursor):
    r = gw.client.get("/v1/public/test-numbers", params={"cursor": cursor})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["errors"] == {"cursor": ["not a cursor from this API"]}


def test_an_altered_cursor_is_refused_and_a_real_one_is_not(gw):
    real = gw.client.get("/v1/public/test-numbers?limit=5").json()["next_cursor"]
    body, _, signature = real.partition(".")
    forged = encode_cursor([20]).partition(".")[0] + "." + signature  # another position
    assert gw.client.get(f"/v1/public/test-numbers?cursor={real}").status_code == 200
    assert gw.client.get(f"/v1/public/test-numbers?cursor={forged}").status_code == 422
    assert gw.client.get(f"/v1/public/test-numbers?cursor={body}").status_code == 422


def test_the_public_licence_list_refuses_a_forged_cursor_before_any_service(gw):
    # No licensing service runs on this vhost: a 422 proves the cursor never left the edge.
    r = gw.client.get("/v1/public/licences", params={"cursor": "W3siYSI6MX1d"})
    assert r.status_code == 422, r.text
    assert "cursor" in r.json()["errors"]


@pytest.mark.parametrize(
    "body, path",
    [
        (b'{"text": "\\ud800x"}', "text"),
        (b'{"text": "ok", "tags": ["fine", "\\udfff"]}', "tags.1"),
    ],
)
def test_a_lone_surrogate_in_a_string_is_422_on_its_field(gw, admin, body, path):
    r = gw.client.post(
        "/v1/test/notes", content=body, headers={**admin, "Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == {path: ["must be valid Unicode text"]}


@pytest.mark.parametrize(
    "body, path",
    [
        (b'{"text": "a\\u0000b"}', "text"),
        (b'{"text": "ok", "tags": ["fine", "\\u0000"]}', "tags.1"),
    ],
)
def test_a_nul_in_a_string_is_422_on_its_field(gw, admin, body, path):
    # PostgreSQL text and jsonb cannot hold NUL: stored, it was a 502 from the service.
    r = gw.client.post(
        "/v1/test/notes", content=body, headers={**admin, "Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == {path: ["must not contain NUL characters"]}


@pytest.mark.parametrize(
    "url, name",
    [("/v1/test/things/a%00b", "thing_id"), ("/v1/public/test-numbers?cursor=%00", "cursor")],
)
def test_a_nul_in_a_path_or_query_parameter_is_422_on_it(gw, admin, url, name):
    r = gw.client.get(url, headers=admin)
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == {name: ["must not contain NUL characters"]}


def test_a_lone_surrogate_in_a_key_is_refused_too(gw, admin):
    r = gw.client.post(
        "/v1/test/notes",
        content=b'{"text": "ok", "\\ud800": 1}',
        headers={**admin, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("tag", [b'"\xb2"', b'"3\xb9"', '"١"'.encode()])
def test_if_match_with_a_non_ascii_digit_is_412_not_500(gw, admin, tag):
    token = admin["Authorization"].encode()
    status, headers, _ = raw_request(
        gw,
        b"POST /v1/test/versioned HTTP/1.1\r\nHost: x\r\nAuthorization: "
        + token
        + b"\r\nIf-Match: "
        + tag
        + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    assert status == 412
    assert headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize(
    "target", [b"/v1/public/test-numbers?cursor=\xff\xfe", b"/v1/public/test-\xff"]
)
def test_a_url_that_is_not_utf8_is_a_400_problem(gw, target):
    status, headers, body = raw_request(
        gw, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 400, body
    assert headers["content-type"].startswith(PROBLEM)


def test_a_request_line_the_server_cannot_parse_is_a_problem_not_html(gw):
    status, headers, body = raw_request(
        gw, b"GET /v1/public/licences?holder=a b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 400
    assert headers["content-type"].startswith(PROBLEM)
    assert b"<html" not in body.lower() and b'"status": 400' in body


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GET /v1/public/licences?holder=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n", 400),
        (b"POST /v1/delegations HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400),
        (b"POST /v1/delegations HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", 400),
    ],
    ids=["request-line-too-long", "header-line-too-long", "negative-length", "length-not-a-number"],
)
def test_requests_the_http_server_refuses_itself_answer_problem_json(gw, request_bytes, status):
    got, headers, body = raw_request(gw, request_bytes)
    assert got == status
    assert headers["content-type"].startswith(PROBLEM)
    assert f'"status": {status}'.encode() in body


def test_invented_methods_do_not_add_metric_series(gw):
    before = gw.client.get("/metrics").text
    for method in ("ZZTOP1", "ZZTOP2", "BREW"):
        assert gw.client.request(method, "/healthz").status_code == 405
    after = gw.client.get("/metrics").text
    assert "ZZTOP" not in after and "BREW" not in after
    assert after.count('method="other"') >= 1
    assert before.count("sesp_http_requests_total{") < after.count("sesp_http_requests_total{")
