"""Connections without Nagle's algorithm: the gateway's accepted sockets and the insurer sync
client's own, so the tail of a response on a kept-alive connection does not wait for the
peer's delayed ACK."""

from __future__ import annotations

import socket

import pytest

from gateway.web import GatewayWebServer
from services.insurance.sync_client import SyncClient


@pytest.fixture(scope="module")
def gw(gateways):
    return gateways()


def _web_server(gw) -> GatewayWebServer:
    for extension in gw.container.extensions:
        server = getattr(extension, "server", None)
        if isinstance(server, GatewayWebServer):
            return server
    raise AssertionError("the gateway has no web server")


def test_every_connection_the_gateway_accepts_has_tcp_nodelay(gw, monkeypatch):
    server = _web_server(gw)
    seen: list[int] = []
    serve = server._serv.process_request

    def spy(conn_state):  # eventlet's wsgi server gets (address, socket, state)
        seen.append(conn_state[1].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return serve(conn_state)

    monkeypatch.setattr(server._serv, "process_request", spy)
    # Two requests on one kept-alive connection, then a connection of another client.
    for _ in range(2):
        assert gw.client.get("/healthz").status_code == 200
    with socket.create_connection(("127.0.0.1", gw.port)) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 200")
    assert len(seen) >= 1 and all(seen), seen


def test_the_insurer_sync_client_connects_with_tcp_nodelay(gw):
    client = SyncClient(gw.url, "no-token")
    try:
        response = client.http.get("/healthz")
        assert response.status_code == 200
        sock = response.extensions["network_stream"].get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        client.http.close()
