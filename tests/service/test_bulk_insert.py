"""``bulk_insert``: many rows in one statement, read back exactly as the driver would write
them one by one (on PostgreSQL the rows travel as one JSON document)."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    select,
)

from infra.eventstore.db import bulk_insert, make_engine

metadata = MetaData()
things = Table(
    "bulk_things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(40)),
    Column("body", Text),
    Column("flag", Boolean),
    Column("day", Date),
    Column("at", DateTime),
    Column("amount", Numeric(10, 2)),
    Column("blob", LargeBinary),
)


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def _rows(n, start=0):
    return [
        {
            "id": start + i,
            "name": f'电梯 "{i}" \\ \'\t\n',
            "body": '{"json":"text","n":[1,2]}' if i % 2 else None,
            "flag": bool(i % 3),
            "day": date(2014, 7, 1 + i % 28),
            "at": datetime(2014, 7, 1, 8, 30, 15, 123456 + i),
            "amount": None,
            "blob": None,
        }
        for i in range(n)
    ]


def _read(engine):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(things).order_by(things.c.id))]


def test_rows_read_back_as_written(engine):
    rows = _rows(50)
    with engine.begin() as conn:
        bulk_insert(conn, things, rows)
    assert _read(engine) == rows


def test_values_json_cannot_carry_take_the_driver_path(engine):
    rows = _rows(3)
    rows[1]["amount"] = Decimal("93.00")
    rows[2]["blob"] = b"\x00\x01"
    with engine.begin() as conn:
        bulk_insert(conn, things, rows)
    back = _read(engine)
    assert back[1]["amount"] == Decimal("93.00")
    assert bytes(back[2]["blob"]) == b"\x00\x01"
    assert [r["name"] for r in back] == [r["name"] for r in rows]


def test_ignore_duplicates_keeps_the_first_row(engine):
    with engine.begin() as conn:
        bulk_insert(conn, things, _rows(3))
    again = _rows(5)
    again[0]["name"] = "changed"
    with engine.begin() as conn:
        bulk_insert(conn, things, again, ignore_duplicates=True)
    back = _read(engine)
    assert [r["id"] for r in back] == [0, 1, 2, 3, 4]
    assert back[0]["name"] == _rows(1)[0]["name"]


def test_a_duplicate_key_fails_the_whole_insert(engine):
    with engine.begin() as conn:
        bulk_insert(conn, things, _rows(2))
    with pytest.raises(Exception), engine.begin() as conn:  # noqa: B017 - driver's own class
        bulk_insert(conn, things, _rows(3))
    assert len(_read(engine)) == 2
