"""Before `make run` and `make test`: make sure what they need is there, or say what is not.

`make run` needs RabbitMQ. `make test` also needs PostgreSQL, RabbitMQ's management API (a
vhost per test) and headless Chromium (browser tests). On a machine where we may (root, the
server installed locally), what is stopped is started and what is missing is installed, as
CI does; otherwise the run stops before any test with one line per missing piece and the
command that provides it. Where a Docker engine works, the tests start throwaway RabbitMQ and
PostgreSQL containers instead (testcontainers), so those two are not required then.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

from infra import settings

DEFAULT_TEST_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def reachable(url: str, default_port: int) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or default_port), 2):
            return True
    except OSError:
        return False


def _local(url: str) -> bool:
    return (urlparse(url).hostname or "127.0.0.1") in ("127.0.0.1", "localhost", "::1")


def _root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _run(*cmd: str) -> bool:
    say(f"running: {' '.join(cmd)}")
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def _wait(check, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(1)
    return check()


def say(message: str) -> None:
    print(f"sesp: {message}", file=sys.stderr, flush=True)


def _docker_works() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_rabbitmq(amqp: str, management: bool) -> str | None:
    """Start a local RabbitMQ (and its management plugin) if we can; the problem otherwise."""
    if not reachable(amqp, 5672) and _local(amqp) and shutil.which("rabbitmq-server"):
        _run("rabbitmq-server", "-detached")
        _wait(lambda: reachable(amqp, 5672), 90)
    if not reachable(amqp, 5672):
        return (
            f"RabbitMQ is not reachable at {amqp}: start it with `rabbitmq-server -detached` "
            "(or `docker run -d -p 5672:5672 -p 15672:15672 rabbitmq:3-management`), or set "
            "the URI."
        )
    host = urlparse(amqp).hostname or "127.0.0.1"
    api = os.environ.get("SESP_TEST_RABBIT_MGMT", f"http://{host}:15672")
    if management and not reachable(api, 15672) and _local(amqp):
        if shutil.which("rabbitmq-plugins"):
            _run("rabbitmq-plugins", "enable", "--quiet", "rabbitmq_management")
            _wait(lambda: reachable(api, 15672), 60)
    if management and not reachable(api, 15672) and not shutil.which("rabbitmqctl"):
        # The tests make a vhost per test through the management API, or rabbitmqctl here.
        return (
            f"RabbitMQ's management API is not reachable at {api}: "
            "`rabbitmq-plugins enable rabbitmq_management`"
        )
    return None


def ensure_postgres(url: str) -> str | None:
    if not reachable(url, 5432) and _local(url) and shutil.which("pg_ctlcluster"):
        versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
        if versions:
            _run("pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start")
            _wait(lambda: reachable(url, 5432), 60)
    if not reachable(url, 5432):
        return (
            f"PostgreSQL is not reachable at {url}: start it (Debian: `pg_ctlcluster "
            "--skip-systemctl-redirect <version> main start`), or set SESP_TEST_DATABASE_URL."
        )
    return None


DEFAULT_TEST_REDIS = "redis://127.0.0.1:6379/0"


def ensure_redis(url: str) -> str | None:
    """Redis, where gateway replicas share their public rate limits (the tests of that)."""
    if not reachable(url, 6379) and _local(url) and shutil.which("redis-server"):
        _run("redis-server", "--daemonize", "yes")
        _wait(lambda: reachable(url, 6379), 30)
    if not reachable(url, 6379):
        return (
            f"Redis is not reachable at {url}: start it (`redis-server --daemonize yes`, "
            "Debian package redis-server), or set SESP_TEST_REDIS_URL."
        )
    return None


def ensure_chromium() -> str | None:
    """Debian's chromium and chromium-driver (the browser tests; a downloaded browser would
    not run on machines without the internet)."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return None
    if _root() and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        say("installing chromium and chromium-driver (browser tests)")
        for cmd in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
        ):
            subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return None
    return (
        "headless Chromium is missing (browser tests): "
        "`sudo apt-get install -y chromium chromium-driver`"
    )


def for_tests() -> list[str]:
    amqp = os.environ.get("SESP_TEST_AMQP_URI") or settings.DEFAULT_AMQP_URI
    pg = os.environ.get("SESP_TEST_DATABASE_URL", DEFAULT_TEST_PG)
    redis = os.environ.get("SESP_TEST_REDIS_URL", DEFAULT_TEST_REDIS)
    problems = [ensure_chromium(), ensure_redis(redis)]
    servers = [ensure_rabbitmq(amqp, management=True), ensure_postgres(pg)]
    if any(servers) and _docker_works():
        say("a Docker engine works: the tests start RabbitMQ and PostgreSQL in containers")
    else:
        problems += servers
    return [p for p in problems if p]


def main(argv: list[str]) -> int:
    if "--for-tests" in argv:
        problems = for_tests()
    else:
        problems = [p for p in [ensure_rabbitmq(settings.amqp_uri(), management=False)] if p]
    for p in problems:
        say(p)
    if problems:
        say("stopping before anything runs: fix the above and run the same command again")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
