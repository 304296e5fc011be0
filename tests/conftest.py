"""Shared fixtures. eventlet must be patched before anything imports socket or threading."""

import eventlet

import infra  # noqa: F401  (quiets eventlet's import-time warning)

eventlet.monkey_patch()

import pytest  # noqa: E402

from infra.testing import Broker, Postgres  # noqa: E402

# The stack and in-process fixtures, for every test module.
pytest_plugins = ["tests.stacks"]


@pytest.fixture(scope="session")
def broker():
    b = Broker()
    yield b
    b.close()


@pytest.fixture(scope="session")
def postgres():
    p = Postgres()
    yield p
    p.close()


@pytest.fixture
def amqp_uri(broker):
    """An AMQP URI on a fresh vhost of the real broker, deleted afterwards."""
    vhost = broker.create_vhost()
    yield broker.uri_for(vhost)
    broker.delete_vhost(vhost)


@pytest.fixture
def pg_url(postgres):
    """A fresh PostgreSQL database, dropped afterwards."""
    url = postgres.create_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """The same test on both backends (the embedded default and production)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")
