"""Tables as a database holds them, for comparing what migrations built with what the code
declares (``MetaData``). Both sides go through the same reflection on the same backend: the
declared side is ``create_all`` on a fresh database of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from infra.eventstore import make_engine


def _type(t: Any) -> tuple:
    try:
        generic = t.as_generic()
    except NotImplementedError:
        generic = t
    return (
        type(generic).__name__,
        getattr(generic, "length", None),
        getattr(generic, "precision", None),
        getattr(generic, "scale", None),
    )


def describe(engine: Engine, exclude: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Every table but ``exclude``: columns (generic type, nullable), primary key, indexes
    (name, columns, unique), unique constraints and foreign keys (by columns)."""
    inspector = sa.inspect(engine)
    skip = set(exclude)
    out = {}
    for table in sorted(set(inspector.get_table_names()) - skip):
        out[table] = {
            "columns": {
                c["name"]: (_type(c["type"]), bool(c["nullable"]))
                for c in inspector.get_columns(table)
            },
            "primary key": tuple(inspector.get_pk_constraint(table)["constrained_columns"]),
            "indexes": {
                ix["name"]: (tuple(ix["column_names"]), bool(ix["unique"]))
                for ix in inspector.get_indexes(table)
            },
            "unique": sorted(
                tuple(uc["column_names"]) for uc in inspector.get_unique_constraints(table)
            ),
            "foreign keys": sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in inspector.get_foreign_keys(table)
            ),
        }
    return out


def differences(built: dict[str, dict], declared: dict[str, dict]) -> list[str]:
    """What the migrations built that the code does not declare, and the other way round."""
    out = [f"table {t}: built, not declared" for t in sorted(set(built) - set(declared))]
    out += [f"table {t}: declared, not built" for t in sorted(set(declared) - set(built))]
    for table in sorted(set(built) & set(declared)):
        b, d = built[table], declared[table]
        for col in sorted(set(b["columns"]) | set(d["columns"])):
            got, want = b["columns"].get(col), d["columns"].get(col)
            if got != want:
                out.append(f"{table}.{col}: built {got}, declared {want}")
        for aspect in ("primary key", "indexes", "unique", "foreign keys"):
            if b[aspect] != d[aspect]:
                out.append(f"{table} {aspect}: built {b[aspect]}, declared {d[aspect]}")
    return out


def declared_on(fresh_url: Callable[[], str], *metadatas: sa.MetaData) -> dict[str, dict]:
    """The tables of ``metadatas`` as ``create_all`` makes them on a fresh database."""
    engine = make_engine(fresh_url())
    try:
        for metadata in metadatas:
            metadata.create_all(engine)
        return describe(engine)
    finally:
        engine.dispose()
