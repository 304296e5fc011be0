"""Test harness: real RabbitMQ and PostgreSQL from the environment, isolated per test.

``SESP_TEST_AMQP_URI`` and ``SESP_TEST_DATABASE_URL`` name the services (default: the local
ones). Where they do not answer and a Docker engine works, throwaway containers are started.
Otherwise the run fails and says what is missing; nothing is skipped (CI sets ``CI=true``).
Each test gets its own RabbitMQ vhost and its own PostgreSQL database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlparse, urlunparse

import httpx
from sqlalchemy import create_engine, text

DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parent.parent


class MissingInfrastructure(RuntimeError):
    """A real broker or database the tests need is not there."""


def _reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _docker_works() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class Broker:
    """The RabbitMQ the tests use, with a vhost per test."""

    def __init__(self) -> None:
        self.uri = os.environ.get("SESP_TEST_AMQP_URI", DEFAULT_AMQP)
        self._container = None
        u = urlparse(self.uri)
        if not _reachable(u.hostname or "127.0.0.1", u.port or 5672):
            if _docker_works():
                from testcontainers.rabbitmq import RabbitMqContainer

                self._container = RabbitMqContainer("rabbitmq:3.13-management").start()
                host = self._container.get_container_host_ip()
                port = self._container.get_exposed_port(5672)
                self.uri = f"amqp://guest:guest@{host}:{port}/"
                self.mgmt = f"http://{host}:{self._container.get_exposed_port(15672)}"
            else:
                raise MissingInfrastructure(
                    f"RabbitMQ is not reachable at {self.uri} and no Docker engine is available. "
                    "Start one (`rabbitmq-server -detached`) or set SESP_TEST_AMQP_URI."
                )
        else:
            self.mgmt = os.environ.get(
                "SESP_TEST_RABBIT_MGMT", f"http://{u.hostname or '127.0.0.1'}:15672"
            )
        u = urlparse(self.uri)
        self.user, self.password = u.username or "guest", u.password or "guest"

    def _api(self, method: str, path: str) -> httpx.Response:
        return httpx.request(
            method, f"{self.mgmt}/api{path}", auth=(self.user, self.password), timeout=30
        )

    def create_vhost(self) -> str:
        name = f"sesp-test-{uuid.uuid4().hex[:10]}"
        try:
            r = self._api("PUT", f"/vhosts/{quote(name, safe='')}")
            r.raise_for_status()
            httpx.put(
                f"{self.mgmt}/api/permissions/{quote(name, safe='')}/{self.user}",
                json={"configure": ".*", "write": ".*", "read": ".*"},
                auth=(self.user, self.password),
                timeout=30,
            ).raise_for_status()
        except httpx.HTTPError:
            # No management plugin: fall back to the CLI on this host.
            subprocess.run(["rabbitmqctl", "add_vhost", name], check=True, capture_output=True)
            subprocess.run(
                ["rabbitmqctl", "set_permissions", "-p", name, self.user, ".*", ".*", ".*"],
                check=True,
                capture_output=True,
            )
        return name

    def delete_vhost(self, name: str) -> None:
        try:
            self._api("DELETE", f"/vhosts/{quote(name, safe='')}")
        except httpx.HTTPError:
            subprocess.run(["rabbitmqctl", "delete_vhost", name], capture_output=True)

    def uri_for(self, vhost: str) -> str:
        u = urlparse(self.uri)
        return urlunparse(u._replace(path="/" + quote(vhost, safe="")))

    def close(self) -> None:
        if self._container is not None:
            self._container.stop()


class Postgres:
    """The PostgreSQL server the tests use, with a fresh database per test."""

    def __init__(self) -> None:
        self.url = os.environ.get("SESP_TEST_DATABASE_URL", DEFAULT_PG)
        self._container = None
        u = urlparse(self.url)
        if not _reachable(u.hostname or "127.0.0.1", u.port or 5432):
            if _docker_works():
                from testcontainers.postgres import PostgresContainer

                self._container = PostgresContainer("postgres:16", driver="psycopg2").start()
                self.url = self._container.get_connection_url()
            else:
                raise MissingInfrastructure(
                    f"PostgreSQL is not reachable at {self.url} and no Docker engine is "
                    "available. Start it or set SESP_TEST_DATABASE_URL."
                )
        self._admin = create_engine(self.url, isolation_level="AUTOCOMMIT", pool_size=1)

    def create_database(self) -> str:
        name = f"sesp_test_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        u = urlparse(self.url)
        return urlunparse(u._replace(path="/" + name))

    def drop_database(self, url: str) -> None:
        name = urlparse(url).path.lstrip("/")
        with self._admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self._admin.dispose()
        if self._container is not None:
            self._container.stop()


class ServiceProcess:
    """A real service process (``nameko run``) started for a test, killable at will."""

    def __init__(self, module: str, env: dict[str, str], log_path: Path):
        self.module, self.env, self.log_path = module, env, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> ServiceProcess:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "infra.runner", "service", self.module],
            env={**os.environ, **self.env},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@contextmanager
def env(**values: str):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
