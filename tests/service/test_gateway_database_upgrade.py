"""A gateway database from before sealed idempotency records: the upgrade drops the records
that held responses in clear, and leaves none of them in the file's free pages or its WAL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from gateway.db import MIGRATIONS, VERSION_TABLE, open_database
from infra.eventstore.db import ENVIRONMENT, make_engine

NAME = b"Wang Wu 310115198808082141"


def test_the_upgrade_leaves_no_clear_response_in_the_file(tmp_path):
    path = tmp_path / "gateway.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:  # the gateway's tables as the version before left them
        cfg = Config()
        cfg.set_main_option("script_location", str(ENVIRONMENT))
        cfg.set_main_option("version_locations", str(MIGRATIONS / "versions"))
        cfg.attributes["connection"] = conn
        cfg.attributes["version_table"] = VERSION_TABLE
        command.upgrade(cfg, "gw0002")
    insert = sa.text(
        "INSERT INTO idempotency_records (caller, key, request_hash, state, locked_until,"
        " expires_at, status, headers, body) VALUES (:c, :k, 'h', 'done', '2014-01-01',"
        " '2014-01-02', 201, '[]', :b)"
    )
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA secure_delete=OFF")  # as the older version ran
        for i in range(200):
            conn.execute(insert, {"c": "tok", "k": f"k{i}", "b": NAME * 20})
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA secure_delete=OFF")
        conn.execute(sa.text("DELETE FROM idempotency_records WHERE key != 'k0'"))
    engine.dispose()
    assert NAME in path.read_bytes()  # deleted, and still in the file

    upgraded = open_database(f"sqlite:///{path}")
    with upgraded.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM idempotency_records")).scalar() == 0
    held = [p.name for p in tmp_path.iterdir() if p.is_file() and NAME in p.read_bytes()]
    upgraded.dispose()
    assert held == []
