"""Start real service processes for end-to-end tests."""

from __future__ import annotations

import contextlib
import time

from nameko.standalone.rpc import ClusterRpcProxy

from infra.testing import ServiceProcess


def rpc_config(amqp_uri: str) -> dict:
    return {"AMQP_URI": amqp_uri, "serializer": "json"}


def wait_for_ping(amqp_uri: str, service: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with ClusterRpcProxy(rpc_config(amqp_uri), timeout=2) as rpc:
                if getattr(rpc, service).ping()["ok"]:
                    return
        except Exception:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


@contextlib.contextmanager
def running(services: dict[str, dict[str, str]], log_dir, amqp_uri: str):
    """Start each ``{name: env}`` as its own process; yield them by name; stop them all."""
    procs = {}
    try:
        for name, env in services.items():
            procs[name] = ServiceProcess(name, env, log_dir / f"{name}.log").start()
        for name in services:
            wait_for_ping(amqp_uri, name)
        yield procs
    finally:
        for p in procs.values():
            p.stop()
