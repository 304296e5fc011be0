"""Test support: real RabbitMQ and PostgreSQL, the platform's services as real processes, and a
real gateway in the test process.

Infrastructure. ``SESP_TEST_AMQP_URI`` and ``SESP_TEST_DATABASE_URL`` name the broker and the
database server (default: the local ones). Where they do not answer and a Docker engine works,
throwaway containers are started. Otherwise the run fails and says what is missing; nothing is
skipped (CI sets ``CI=true``). ``Broker`` makes a vhost per test or per stack, ``Postgres`` a
database.

Two ways to run the platform for a test (the pytest fixtures are in ``tests/stacks.py``):

- **A stack** (``Stack``; fixtures ``stacks`` and ``module_stacks``): the named services of
  ``infra.registry`` as real processes (``python -m infra.runner service NAME``) on one vhost,
  each with its own database (SQLite files, or PostgreSQL databases), one injectable clock file
  shared by all (``SESP_CLOCK_FILE``; ``set_clock`` moves time), and optionally a real gateway
  in the test process (``RunningGateway``) with ``token``, ``client`` and ``url``. End-to-end,
  fault and browser tests use it; a module usually shares one stack and keeps its tests apart
  by fresh identifiers.
- **In process** (fixtures ``gateways`` and ``stub_services``): gateways and tiny stub services
  (nameko containers answering ``ping`` and whatever a test gives them) in the test process, no
  service process at all. Gateway tests that are about the gateway itself use it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlparse, urlunparse

import httpx
from sqlalchemy import create_engine, text

from infra import registry

if TYPE_CHECKING:
    from nameko.standalone.rpc import ClusterRpcProxy

DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
# Where a stack's clock stands unless a test says otherwise: a Monday before National Day.
DEFAULT_CLOCK = "2014-09-29T09:00:00+08:00"
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
    """The RabbitMQ the tests use (or the one at ``uri``), with a vhost per test."""

    def __init__(self, uri: str | None = None) -> None:
        self.uri = uri or os.environ.get("SESP_TEST_AMQP_URI", DEFAULT_AMQP)
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
    """A real service process (``python -m infra.runner service NAME``), killable at will."""

    def __init__(self, module: str, env: dict[str, str], log_path: Path):
        self.module, self.env, self.log_path = module, env, log_path
        self.proc: subprocess.Popen | None = None
        self._terminated = False

    def start(self) -> ServiceProcess:
        self._terminated = False
        with open(self.log_path, "ab") as log:  # the child holds its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "infra.runner", "service", self.module],
                env={**os.environ, **self.env},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def _live(self) -> subprocess.Popen | None:
        """The process while it runs, else None."""
        return self.proc if self.proc is not None and self.proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self._live() is not None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def kill(self) -> None:
        if proc := self._live():
            proc.kill()
            proc.wait(10)

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM) without waiting: stop several at once. Once: a
        second SIGTERM would start a second shutdown."""
        if (proc := self._live()) and not self._terminated:
            self._terminated = True
            proc.terminate()

    def wait(self, timeout: float = 15) -> None:
        """Wait for the process to end; kill it when it takes longer than ``timeout``."""
        if proc := self._live():
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def stop(self) -> None:
        self.terminate()
        self.wait()


def write_clock(path: Path, iso: str) -> None:
    """Set an injectable clock file atomically: a process reading it mid-write must never see
    it empty (it would fall back to the real date and, say, expire every licence)."""
    partial = path.with_name(path.name + ".new")
    partial.write_text(iso)
    os.replace(partial, path)


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


# --- a real gateway in the test process -------------------------------------------------------


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


def container_config(amqp_uri: str) -> dict[str, Any]:
    """The nameko config of a container run in the test process."""
    return {"AMQP_URI": amqp_uri, "HEARTBEAT": 60, "serializer": "json", "max_workers": 10}


class RunningGateway:
    """The gateway (or a subclass a test declares) as a nameko container in this process,
    serving HTTP on a free port; ``client`` calls it over real HTTP.

    The gateway class comes from the registry (``registry.spec("gateway")``), never from an
    import here: the kernel does not depend on the gateway."""

    def __init__(
        self,
        amqp_uri: str,
        db_url: str,
        service_cls: type | None = None,
        port: int | None = None,
        **config: Any,
    ):
        from nameko.containers import ServiceContainer

        if service_cls is None:  # the registered gateway: the kernel names no package of it
            service_cls = registry.spec("gateway").service_class()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = {
            **container_config(amqp_uri),
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
    def core(self) -> Any:
        """The gateway's shared core (tokens, stores, metrics): the shared extension behind
        the service class's ``gateway`` dependency."""
        declared = self.container.service_cls.gateway.core
        return self.container.shared_extensions[type(declared)]

    def token(
        self,
        role: str,
        *,
        bureau: str | None = None,
        uscc: str | None = None,
        name: str | None = None,
    ) -> str:
        """A new token straight from the store (as ``sesp token create`` makes them); ``name``:
        who holds it (default ``test <role>``)."""
        secret, _ = self.core.tokens.create(
            role=role, name=name or f"test {role}", bureau=bureau, uscc=uscc, created_by="test"
        )
        return secret

    def headers(self, token: str | None = None, **extra: str) -> dict[str, str]:
        out = dict(extra)
        if token:
            out["Authorization"] = f"Bearer {token}"
        return out


class Api:
    """A small HTTP client of the gateway, with a bearer token when given one."""

    def __init__(self, base_url: str, token: str | None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None, **headers: str) -> httpx.Response:
        # An empty JSON object, not an empty body: eventlet's WSGI server reports a missing
        # Content-Type as text/plain, which the gateway refuses (415) where a body is declared.
        return self.http.post(path, json={} if body is None else body, headers=headers)

    def close(self) -> None:
        self.http.close()


# --- the stack: registered services as real processes -----------------------------------------


class Stack:
    """Registered services as real processes on one vhost, each with its own database, one
    clock file for all, and optionally a gateway in this process.

    ``services``: names from ``infra.registry`` (default: every service); ``db``: ``"sqlite"``
    (a file per service in ``data_dir``) or ``"postgresql"`` (a database per service on
    ``postgres``, dropped at ``stop``); ``clock``: where the clock file starts (``None``: no
    clock file, the real time); ``gateway``: run a gateway in this process, with
    ``gateway_config`` added to its nameko config.

    ``env`` is the environment every process of the stack gets; a test running ``sesp`` against
    the stack passes it on. ``start`` returns the stack once every service answers ``ping``;
    ``stop`` undoes everything ``start`` did, and is safe to call twice.
    """

    def __init__(
        self,
        broker: Broker,
        data_dir: Path,
        services: Iterable[str] | None = None,
        *,
        db: str = "sqlite",
        postgres: Postgres | None = None,
        gateway: bool = False,
        gateway_config: Mapping[str, Any] | None = None,
        clock: str | None = DEFAULT_CLOCK,
    ):
        names = registry.names() if services is None else list(dict.fromkeys(services))
        specs = [registry.spec(name) for name in names]  # an unknown name fails here
        for spec in specs:
            if spec.process_only:
                raise ValueError(
                    f"{spec.name!r} is not a service with a store of its own; "
                    "a stack runs the gateway in the test process: gateway=True"
                )
        if db not in ("sqlite", "postgresql"):
            raise ValueError(f"db must be 'sqlite' or 'postgresql', not {db!r}")
        if db == "postgresql" and postgres is None:
            raise ValueError("db='postgresql' needs the Postgres server to make databases on")
        self.services = [s.name for s in sorted(specs, key=lambda s: (s.order, s.name))]
        self.broker, self.postgres, self.db = broker, postgres, db
        self.data_dir = data_dir
        self.clock = data_dir / "clock" if clock is not None else None
        self._clock_start = clock
        self._gateway_wanted, self._gateway_config = gateway, dict(gateway_config or {})
        self.amqp_uri = ""
        self.db_urls: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.processes: dict[str, ServiceProcess] = {}
        self.gateway: RunningGateway | None = None
        self._clients: list[Api] = []
        self._cleanup = ExitStack()

    # --- life cycle

    def start(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        undo = self._cleanup
        vhost = self.broker.create_vhost()
        undo.callback(self.broker.delete_vhost, vhost)
        self.amqp_uri = self.broker.uri_for(vhost)
        if self.clock is not None and self._clock_start is not None:
            write_clock(self.clock, self._clock_start)
        for name in self.services:
            if self.postgres is not None and self.db == "postgresql":
                url = self.postgres.create_database()
                undo.callback(self.postgres.drop_database, url)
            else:
                url = f"sqlite:///{self.data_dir / (name + '.db')}"
            self.db_urls[name] = url
        self.env = {
            "SESP_AMQP_URI": self.amqp_uri,
            "SESP_DATA_DIR": str(self.data_dir),
            # Empty: no clock file, the real time (and none inherited from this process).
            "SESP_CLOCK_FILE": str(self.clock) if self.clock is not None else "",
            "SESP_DEMO": "0",
            **{f"SESP_{name.upper()}_DATABASE_URL": url for name, url in self.db_urls.items()},
        }
        for name in self.services:
            log = self.data_dir / f"{name}.log"
            self.processes[name] = ServiceProcess(name, self.env, log).start()
        # Stopping: SIGTERM to every process first (registered last, so it runs first), then
        # the gateway, then wait for the processes: their shutdowns overlap.
        undo.callback(self._wait_processes)
        if self._gateway_wanted:
            self._start_gateway()
        undo.callback(self._terminate_processes)
        undo.callback(self._close_clients)
        self.wait_ready()

    def _start_gateway(self) -> None:
        if self.clock is not None:
            # The gateway validates dates (identifiers, validity) against the same clock.
            previous = os.environ.get("SESP_CLOCK_FILE")
            os.environ["SESP_CLOCK_FILE"] = str(self.clock)
            self._cleanup.callback(_restore_env, "SESP_CLOCK_FILE", previous)
        db_url = f"sqlite:///{self.data_dir / 'gateway.db'}"
        self.gateway = RunningGateway(self.amqp_uri, db_url, **self._gateway_config)
        self._cleanup.callback(self.gateway.stop)
        self.gateway.start()

    def wait_ready(self, names: Iterable[str] | None = None, timeout: float = 60) -> None:
        """Wait until each named service (default: all) answers ``ping``; fail at once, with
        the end of its log, when one of their processes has exited."""
        pending = list(self.services if names is None else names)
        deadline = time.monotonic() + timeout
        with self.rpc(timeout=2) as rpc:
            while pending:
                for name in list(pending):
                    proc = self.processes[name]
                    if not proc.running:
                        raise AssertionError(
                            f"service {name} exited before it answered; its log ends:\n"
                            + proc.log_tail()
                        )
                    try:
                        if getattr(rpc, name).ping()["ok"]:
                            pending.remove(name)
                    except Exception:  # not consuming yet (UnknownService) or still starting
                        pass
                if pending:
                    if time.monotonic() > deadline:
                        raise AssertionError(f"timed out after {timeout}s waiting for {pending}")
                    time.sleep(0.2)

    def wait_published(self, names: Iterable[str], timeout: float = 120) -> None:
        """Wait until each named service's relay has published every event stored so far (a
        test of history must not race the relay: an event published after a consumer's
        queue exists reaches it live, not from history)."""
        with self.rpc(timeout=10) as rpc:
            for name in names:
                service = getattr(rpc, name)
                wait_until(
                    lambda s=service: s.relay_status()["behind"] == 0,
                    timeout=timeout,
                    what=f"{name}'s relay to publish everything",
                )

    def stop(self) -> None:
        self._cleanup.close()

    def _terminate_processes(self) -> None:
        for proc in self.processes.values():
            proc.terminate()

    def _wait_processes(self) -> None:
        self._terminate_processes()  # already done, unless starting failed half way
        for proc in self.processes.values():
            proc.wait()

    def _close_clients(self) -> None:
        for client in self._clients:
            client.close()

    # --- using it

    @property
    def url(self) -> str:
        return self._running_gateway().url

    def set_clock(self, iso: str) -> None:
        """Move every process's now (and the gateway's) to ``iso``."""
        if self.clock is None:
            raise RuntimeError("this stack runs on the real time: start it with a clock")
        write_clock(self.clock, iso)

    def token(self, role: str, **scope: str) -> str:
        return self._running_gateway().token(role, **scope)

    def client(self, token: str | None = None) -> Api:
        api = Api(self._running_gateway().url, token)
        self._clients.append(api)
        return api

    def rpc(self, timeout: float = 60) -> ClusterRpcProxy:
        """A proxy to the stack's services, to use as a context manager. Refusals arrive as
        ``infra.errors`` classes (``Conflict``, ``NotFound``...), as they do in the gateway,
        not as nameko's generic ``RemoteError``."""
        from nameko.standalone.rpc import ClusterRpcProxy

        from infra.errors import register_remote_errors

        register_remote_errors()
        return ClusterRpcProxy({"AMQP_URI": self.amqp_uri, "serializer": "json"}, timeout=timeout)

    def _running_gateway(self) -> RunningGateway:
        if self.gateway is None:
            raise RuntimeError("this stack runs no gateway: start it with gateway=True")
        return self.gateway


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
