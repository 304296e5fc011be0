"""Slow clients do not hold the gateway: a body that stops coming, headers sent a byte at a
time, and many such connections at once while other clients are still answered.

The limits are set low for the test (1 s between reads, 3 s for a whole request); the waits
below are liveness bounds (how long before we call it hung), not timings of the gateway.
"""

from __future__ import annotations

import socket
import time

import eventlet
import pytest

from gateway.auth import CITY_ADMIN

LIMITS = {
    "SESP_HTTP_IDLE_TIMEOUT": "1",
    "SESP_HTTP_REQUEST_TIMEOUT": "3",
    "SESP_HTTP_KEEPALIVE_TIMEOUT": "3",
}
HUNG = 20  # seconds: far beyond every limit above


@pytest.fixture(scope="module")
def gw(gateways):
    return gateways(**LIMITS)


def connect(gw) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=HUNG)
    return s


def read_all(s: socket.socket) -> bytes:
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def test_a_body_that_stops_coming_is_answered_408_and_the_connection_closed(gw):
    token = gw.token(CITY_ADMIN)
    with connect(gw) as s:
        s.sendall(
            b"POST /v1/delegations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + token.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        answer = read_all(s)  # returns once the gateway closes the connection
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"application/problem+json" in head
    assert b"request-timeout" in body


def test_headers_sent_a_byte_at_a_time_are_cut_off(gw):
    started = time.monotonic()
    with connect(gw) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        try:
            for _ in range(HUNG * 2):  # one byte every half second: under the idle limit
                s.sendall(b"X")
                eventlet.sleep(0.5)
        except OSError:
            pass  # the gateway closed the connection: what we wait for
        answer = read_all(s)
    assert time.monotonic() - started < HUNG, "the trickle held the connection"
    assert answer.startswith(b"HTTP/1.1 408") or answer == b""


def test_many_slow_clients_leave_the_gateway_answering_others(gw):
    slow = []
    for _ in range(100):
        s = connect(gw)
        s.sendall(b"POST /v1/delegations HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        slow.append(s)
    try:
        for _ in range(5):
            assert gw.client.get("/healthz").status_code == 200
        # and each slow one is let go
        for s in slow:
            s.settimeout(HUNG)
            read_all(s)
    finally:
        for s in slow:
            s.close()
