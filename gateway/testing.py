"""Running a real gateway in the test process: a nameko container on a test vhost, serving
HTTP on a free port, called over real HTTP with httpx.

``gateways`` (a pytest fixture) starts any number of them and stops them after the test;
``stub_services`` runs tiny services under the real service names that answer ``ping`` (and
whatever extra RPC methods a test gives them). Import the fixtures into a test module with
``pytest_plugins = ["gateway.testing"]``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import eventlet
import httpx
import pytest
from nameko.containers import ServiceContainer
from nameko.rpc import rpc

from gateway.core import GatewayCore
from gateway.service import GatewayService
from infra.testing import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def outside_nameko_fast_teardown() -> Iterator[None]:
    """Build containers that nameko's pytest plugin will not stop behind our back.

    Its autouse ``fast_teardown`` fixture records every kombu consumer created during a test
    (by patching ``ConsumerMixin.__init__``) and sets ``should_stop`` on all of them when the
    test ends. Containers shared by the tests of a module must outlive a single test, so
    they are built with the original constructor; the module stops them itself.
    """
    from kombu.mixins import ConsumerMixin

    patched = ConsumerMixin.__dict__.get("__init__")
    if patched is None or getattr(patched, "__module__", "") != "nameko.testing.pytest":
        yield
        return
    del ConsumerMixin.__init__
    try:
        yield
    finally:
        ConsumerMixin.__init__ = patched  # type: ignore[method-assign]  # put nameko's patch back


def base_config(amqp_uri: str) -> dict[str, Any]:
    return {"AMQP_URI": amqp_uri, "HEARTBEAT": 60, "serializer": "json", "max_workers": 10}


class RunningGateway:
    def __init__(
        self,
        amqp_uri: str,
        db_url: str,
        service_cls: type = GatewayService,
        port: int | None = None,
        **config: Any,
    ):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = {
            **base_config(amqp_uri),
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.port}",
            "SESP_GATEWAY_DATABASE_URL": db_url,
            **config,
        }
        with outside_nameko_fast_teardown():
            self.container = ServiceContainer(service_cls, self.config)
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self.stopped = False

    def start(self) -> RunningGateway:
        self.container.start()
        wait_until(self._answers, timeout=10, what=f"gateway on {self.url}")
        return self

    def _answers(self) -> bool:
        try:
            return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.client.close()
            self.container.stop()

    @property
    def core(self) -> GatewayCore:
        return self.container.shared_extensions[GatewayCore]

    def token(self, role: str, *, bureau: str | None = None, uscc: str | None = None) -> str:
        """A new token straight from the store (as ``sesp token create`` makes them)."""
        secret, _ = self.core.tokens.create(
            role=role, name=f"test {role}", bureau=bureau, uscc=uscc, created_by="test"
        )
        return secret

    def headers(self, token: str | None = None, **extra: str) -> dict[str, str]:
        out = dict(extra)
        if token:
            out["Authorization"] = f"Bearer {token}"
        return out


def make_stub_service(name: str, **methods: Callable) -> type:
    """A nameko service class called ``name`` with ``ping`` and the given RPC methods."""

    def ping(self):
        return {"service": name, "ok": True}

    attrs: dict[str, Any] = {"name": name, "ping": rpc(ping)}
    for method_name, fn in methods.items():
        attrs[method_name] = rpc(fn)
    return type(f"Stub_{name}", (), attrs)


class Containers:
    """Containers started for a test module, stopped together (each stop takes ~2 s in
    nameko's queue consumer, so they are stopped concurrently)."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def add(self, item):
        self.items.append(item)
        return item

    def stop_all(self) -> None:
        pool = eventlet.GreenPool()
        for item in reversed(self.items):
            pool.spawn_n(item.stop)
        pool.waitall()


@pytest.fixture(scope="module")
def module_amqp_uri(broker) -> Iterator[str]:
    """A vhost shared by the tests of one module (creating one takes seconds)."""
    vhost = broker.create_vhost()
    yield broker.uri_for(vhost)
    broker.delete_vhost(vhost)


@pytest.fixture(scope="module")
def module_containers(module_amqp_uri: str) -> Iterator[Containers]:
    containers = Containers()
    yield containers
    containers.stop_all()


@pytest.fixture(scope="module")
def gateways(
    module_amqp_uri: str, module_containers: Containers, tmp_path_factory
) -> Callable[..., RunningGateway]:
    """``gateways(**config)`` starts a gateway on the module's vhost (a fresh SQLite database
    unless ``db_url`` is given); all are stopped at the end of the module."""

    def start(db_url: str | None = None, service_cls: type = GatewayService, **config):
        if db_url is None:
            db_url = f"sqlite:///{tmp_path_factory.mktemp('gateway') / 'gateway.db'}"
        gw = RunningGateway(module_amqp_uri, db_url, service_cls, **config)
        return module_containers.add(gw).start()

    return start


@pytest.fixture(scope="module")
def stub_services(
    module_amqp_uri: str, module_containers: Containers
) -> Callable[..., list[ServiceContainer]]:
    """``stub_services(classes)`` starts each nameko service class on the module's vhost."""

    def start(classes: list[type]) -> list[ServiceContainer]:
        out = []
        for cls in classes:
            with outside_nameko_fast_teardown():
                container = ServiceContainer(cls, base_config(module_amqp_uri))
            module_containers.add(container)
            container.start()
            out.append(container)
        return out

    return start
