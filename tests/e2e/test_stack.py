"""The test stack itself: it names its services from the registry, fails at once (with the
service's log) when a process dies while starting, and ``stop`` leaves nothing behind."""

from __future__ import annotations

import os
from urllib.parse import urlparse

import httpx
import pytest
from sqlalchemy import create_engine, text

from infra import registry
from infra.registry import ServiceSpec
from infra.testing import Stack


def test_an_unknown_service_is_refused_with_the_known_ones(broker, tmp_path):
    with pytest.raises(KeyError, match="no service called 'nope' is registered") as err:
        Stack(broker, tmp_path, ["licensing", "nope"])
    assert all(name in str(err.value) for name in registry.names())


def test_the_gateway_is_not_a_stack_process(broker, tmp_path):
    with pytest.raises(ValueError, match="gateway=True"):
        Stack(broker, tmp_path, ["gateway"])


def test_postgresql_needs_the_server(broker, tmp_path):
    with pytest.raises(ValueError, match="needs the Postgres server"):
        Stack(broker, tmp_path, ["licensing"], db="postgresql")


def test_a_process_that_dies_while_starting_fails_the_start_with_its_log(broker, tmp_path):
    # Known to this process only: the child's runner cannot find it, prints why and exits.
    registry.register(ServiceSpec(name="ghost", target="services.ghost.service:Ghost"))
    try:
        stack = Stack(broker, tmp_path, ["ghost"])
        with pytest.raises(AssertionError, match="service ghost exited before it answered") as e:
            stack.start()
        assert "no service called 'ghost'" in str(e.value)
        assert not stack.processes["ghost"].running
    finally:
        registry.unregister("ghost")


def test_stop_drops_the_databases_and_the_vhost_and_restores_the_clock(broker, postgres, tmp_path):
    before = os.environ.get("SESP_CLOCK_FILE")
    stack = Stack(
        broker, tmp_path, ["blacklist"], db="postgresql", postgres=postgres, gateway=True
    ).start()
    try:
        assert os.environ["SESP_CLOCK_FILE"] == str(stack.clock)
        stack.set_clock("2015-01-05T09:00:00+08:00")
        assert stack.client().get("/healthz").status_code == 200
        with stack.rpc() as rpc:
            assert rpc.blacklist.ping()["ok"]
        url = stack.db_urls["blacklist"]
        assert url.startswith("postgresql") and stack.env["SESP_BLACKLIST_DATABASE_URL"] == url
    finally:
        stack.stop()
    stack.stop()  # twice is harmless
    assert os.environ.get("SESP_CLOCK_FILE") == before
    assert not stack.processes["blacklist"].running
    name = urlparse(url).path.lstrip("/")
    admin = create_engine(postgres.url)
    try:
        with admin.connect() as conn:
            left = conn.execute(
                text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name}
            ).scalar_one()
    finally:
        admin.dispose()
    assert left == 0
    vhost = urlparse(stack.amqp_uri).path.lstrip("/")  # quoted already, as the API wants it
    gone = httpx.get(f"{broker.mgmt}/api/vhosts/{vhost}", auth=(broker.user, broker.password))
    assert gone.status_code == 404
