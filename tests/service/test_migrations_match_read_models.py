"""Migrations build exactly the tables the code declares, on SQLite and on PostgreSQL.

For the kernel's store tables (``infra/eventstore/schema.py`` vs its migrations), the gateway
(``gateway/db.py``: ``metadata`` vs ``MIGRATIONS``) and every registered service (its
``read_models`` vs the ``migrations`` folder of its ``ServiceDatabase``, run as the service
runs them: after the kernel's chain). Each chain runs on a fresh database; the declared side
is ``create_all`` on another fresh database of the same backend; both are read back with
``sqlalchemy.inspect``: the same tables, columns (generic type, nullability), primary keys,
indexes, unique constraints and foreign keys. Version tables are left out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway import db as gateway_db
from infra import registry
from infra.bus.dependencies import ServiceDatabase
from infra.eventstore import make_engine, migrate
from infra.eventstore.schema import metadata as store_metadata
from tests.schema_compare import declared_on, describe, differences

KERNEL_VERSION_TABLE = "sesp_kernel"
SERVICES = registry.names()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path) -> Iterator[Callable[[], str]]:
    """``fresh_url()`` makes another empty database on the backend under test."""
    if request.param == "sqlite":
        yield lambda: f"sqlite:///{tmp_path / uuid.uuid4().hex}.db"
        return
    postgres = request.getfixturevalue("postgres")
    made: list[str] = []

    def make() -> str:
        made.append(postgres.create_database())
        return made[-1]

    yield make
    for url in made:
        postgres.drop_database(url)


def built_by(url: str, chains: list[tuple[str, Path]], *, kernel: bool = True) -> dict[str, dict]:
    engine = make_engine(url)
    try:
        migrate(engine, chains, kernel=kernel)
        version_tables = [name for name, _ in chains] + ([KERNEL_VERSION_TABLE] if kernel else [])
        return describe(engine, exclude=version_tables)
    finally:
        engine.dispose()


def database_of(name: str) -> ServiceDatabase:
    provider = registry.spec(name).service_class().db
    assert isinstance(provider, ServiceDatabase), f"{name}.db is no ServiceDatabase"
    return provider


def test_the_kernel_store_tables_are_what_its_migrations_build(fresh_url):
    built = built_by(fresh_url(), [])
    assert differences(built, declared_on(fresh_url, store_metadata)) == []


def test_the_gateway_tables_are_what_its_migrations_build(fresh_url):
    chains = [(gateway_db.VERSION_TABLE, gateway_db.MIGRATIONS)]
    built = built_by(fresh_url(), chains, kernel=False)
    assert differences(built, declared_on(fresh_url, gateway_db.metadata)) == []


@pytest.mark.parametrize("name", SERVICES)
def test_a_services_migrations_build_exactly_its_read_models(name, fresh_url):
    """The kernel's tables plus the declared read models: no table more, none less."""
    service = registry.spec(name).service_class()
    folder = database_of(name).migrations
    chains = [(f"{name}_version", folder)] if folder else []
    declared = [store_metadata]
    if service.read_models is not None:
        declared.append(service.read_models.metadata)
    built = built_by(fresh_url(), chains)
    assert differences(built, declared_on(fresh_url, *declared)) == []


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_with_migrations_declares_its_read_models(name):
    service = registry.spec(name).service_class()
    if database_of(name).migrations is None:
        assert service.read_models is None, f"{name} declares read models but no migrations"
    else:
        assert service.read_models is not None, f"{name} has migrations but no read_models"
        assert service.read_models.tables, f"{name}'s read models declare no table"


# --- the check itself ------------------------------------------------------------------------


def notes(*extra: sa.SchemaItem, length: int = 200, nullable: bool = False) -> sa.MetaData:
    metadata = sa.MetaData()
    table = sa.Table(
        "notes",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(length), nullable=nullable),
        sa.Column("due_on", sa.Date, nullable=False),
        *extra,
    )
    sa.Index("ix_notes_due_on", table.c.due_on)
    return metadata


CHANGED = [
    pytest.param(notes(nullable=True), "notes.title: built", id="nullability"),
    pytest.param(notes(length=100), "notes.title: built", id="length"),
    pytest.param(notes(sa.Column("extra", sa.Text)), "notes.extra: built", id="column"),
    pytest.param(notes(sa.Index("ix_notes_title", "title")), "notes indexes", id="index"),
    pytest.param(notes(sa.UniqueConstraint("title")), "notes unique", id="unique"),
]


@pytest.mark.parametrize(("built", "reported"), CHANGED)
def test_the_comparison_reports_what_differs(built, reported, fresh_url):
    found = differences(declared_on(fresh_url, built), declared_on(fresh_url, notes()))
    assert any(f.startswith(reported) for f in found), found
    assert all(f.startswith("notes") for f in found), found


def test_the_comparison_reports_a_table_on_one_side_only(fresh_url):
    other = sa.MetaData()
    sa.Table("other", other, sa.Column("id", sa.Integer, primary_key=True))
    found = differences(declared_on(fresh_url, notes(), other), declared_on(fresh_url, notes()))
    assert found == ["table other: built, not declared"]
