"""`make test` on a fresh machine: what is missing is provided, or named with its command."""

from __future__ import annotations

import pytest

from infra import preflight


@pytest.fixture
def bare_machine(monkeypatch):
    """A machine with nothing installed and no rights to install it, and no Docker."""
    monkeypatch.setattr(preflight.shutil, "which", lambda name: None)
    monkeypatch.setattr(preflight, "_root", lambda: False)
    monkeypatch.setattr(preflight, "_docker_works", lambda: False)
    monkeypatch.setattr(preflight, "reachable", lambda url, port: False)
    monkeypatch.setenv("SESP_TEST_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
    monkeypatch.setenv("SESP_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/x")


def test_a_bare_machine_is_told_each_missing_piece_and_its_command(bare_machine, capsys):
    assert preflight.main(["--for-tests"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert any(
        "Chromium" in line and "apt-get install -y chromium chromium-driver" in line
        for line in lines
    )
    assert any(
        "RabbitMQ is not reachable" in line and "rabbitmq-server -detached" in line
        for line in lines
    )
    assert any("PostgreSQL is not reachable" in line and "pg_ctlcluster" in line for line in lines)
    assert lines[-1].startswith("sesp: stopping before anything runs")


def test_with_docker_the_servers_come_from_containers_and_only_chromium_is_missing(
    bare_machine, monkeypatch, capsys
):
    monkeypatch.setattr(preflight, "_docker_works", lambda: True)
    assert preflight.main(["--for-tests"]) == 1
    err = capsys.readouterr().err
    assert "Chromium" in err
    assert "RabbitMQ is not reachable" not in err and "PostgreSQL is not reachable" not in err


def test_a_root_machine_with_the_servers_installed_starts_them(monkeypatch):
    """Stopped local servers are started with the Debian commands (recorded, not run)."""
    up: set[int] = set()
    ran: list[tuple[str, ...]] = []

    def run(*cmd: str) -> bool:
        ran.append(cmd)
        up.add({"rabbitmq-server": 5672, "pg_ctlcluster": 5432}.get(cmd[0], 15672))
        return True

    monkeypatch.setattr(preflight, "_run", run)
    monkeypatch.setattr(preflight, "reachable", lambda url, port: port in up)
    monkeypatch.setattr(preflight.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(preflight.os.path, "isdir", lambda path: True)
    monkeypatch.setattr(preflight.os, "listdir", lambda path: ["15"])
    monkeypatch.setattr(preflight, "_wait", lambda check, seconds=60: check())
    assert preflight.ensure_rabbitmq("amqp://guest:guest@127.0.0.1:5672/", True) is None
    assert preflight.ensure_postgres("postgresql://postgres@127.0.0.1:5432/x") is None
    assert ("rabbitmq-server", "-detached") in ran
    assert ("rabbitmq-plugins", "enable", "--quiet", "rabbitmq_management") in ran
    assert ("pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "start") in ran


def test_a_remote_broker_is_never_started_here(monkeypatch):
    ran: list[tuple[str, ...]] = []
    monkeypatch.setattr(preflight, "_run", lambda *cmd: ran.append(cmd) or True)
    monkeypatch.setattr(preflight, "reachable", lambda url, port: False)
    monkeypatch.setattr(preflight.shutil, "which", lambda name: f"/usr/bin/{name}")
    problem = preflight.ensure_rabbitmq("amqp://guest:guest@rabbit.internal:5672/", True)
    assert problem is not None and "rabbit.internal" in problem
    assert ran == []
