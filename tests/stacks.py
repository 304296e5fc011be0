"""Fixtures that run the platform for a test (``tests/conftest.py`` loads this plugin, so every
test module has them). ``infra.testing`` describes the two ways.

A stack, real service processes (``infra.testing.Stack``)::

    @pytest.fixture(scope="module")
    def stack(module_stacks):
        return module_stacks(["licensing"], gateway=True, db="postgresql")

``module_stacks(services, **options)`` starts a stack shared by the tests of a module and stops
it after the last one; ``stacks(...)`` the same for one test. The options are ``Stack``'s:
``db="sqlite"|"postgresql"``, ``gateway=True``, ``gateway_config={...}``, ``clock=ISO|None``.

In process, no service process: ``gateways(**config)`` starts gateways and
``stub_services(classes)`` nameko service classes (``make_stub_service``) in the test process,
on a vhost of the module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import eventlet
import pytest
from nameko.containers import ServiceContainer
from nameko.rpc import rpc

from infra.testing import (
    RunningGateway,
    Stack,
    container_config,
    outside_nameko_fast_teardown,
)

# --- a stack ------------------------------------------------------------------------------------


def _stack_factory(request, broker, tmp_path_factory, started: list[Stack]):
    def start(services: list[str] | None = None, **options: Any) -> Stack:
        if options.get("db") == "postgresql":
            # Asked for only here: a module on SQLite does not need a PostgreSQL server.
            options["postgres"] = request.getfixturevalue("postgres")
        stack = Stack(broker, tmp_path_factory.mktemp("stack"), services, **options)
        started.append(stack)
        return stack.start()

    return start


@pytest.fixture(scope="module")
def module_stacks(request, broker, tmp_path_factory) -> Iterator[Callable[..., Stack]]:
    """``module_stacks(services, **options)``: a stack for the tests of this module."""
    started: list[Stack] = []
    yield _stack_factory(request, broker, tmp_path_factory, started)
    for stack in reversed(started):
        stack.stop()


@pytest.fixture
def stacks(request, broker, tmp_path_factory) -> Iterator[Callable[..., Stack]]:
    """``stacks(services, **options)``: a stack for this test alone (one that moves the clock
    where others share a stack, or kills a process)."""
    started: list[Stack] = []
    yield _stack_factory(request, broker, tmp_path_factory, started)
    for stack in reversed(started):
        stack.stop()


# --- in process ---------------------------------------------------------------------------------


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
    """``gateways(**config)`` starts a gateway in this process on the module's vhost (a fresh
    SQLite database unless ``db_url`` is given); all are stopped at the end of the module."""

    def start(db_url: str | None = None, service_cls: type | None = None, **config):
        if db_url is None:
            db_url = f"sqlite:///{tmp_path_factory.mktemp('gateway') / 'gateway.db'}"
        gw = RunningGateway(module_amqp_uri, db_url, service_cls, **config)
        return module_containers.add(gw).start()

    return start


@pytest.fixture(scope="module")
def stub_services(
    module_amqp_uri: str, module_containers: Containers
) -> Callable[..., list[ServiceContainer]]:
    """``stub_services(classes)`` starts each nameko service class in this process on the
    module's vhost."""

    def start(classes: list[type]) -> list[ServiceContainer]:
        out = []
        for cls in classes:
            with outside_nameko_fast_teardown():
                container = ServiceContainer(cls, container_config(module_amqp_uri))
            module_containers.add(container)
            container.start()
            out.append(container)
        return out

    return start
