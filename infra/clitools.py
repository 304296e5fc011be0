"""What every ``sesp`` command uses to tell the operator where it works: one line on stderr
(``say``), a clear end (``fail``), URLs without passwords (``shown``) and whether a store exists
before anything creates it (``store_exists``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click


def say(text: str) -> None:
    """One line for the operator on stderr (stdout stays the command's output)."""
    click.echo(f"sesp: {text}", err=True)


def fail(text: str, code: int = 1) -> NoReturn:
    click.echo(f"sesp: {text}", err=True)
    sys.exit(code)


def shown(url: str) -> str:
    """A database or broker URL as it may be printed: without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an AMQP URI is not a database URL
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(url)
        if parts.password:
            netloc = f"{parts.username}:***@{parts.hostname}" + (
                f":{parts.port}" if parts.port else ""
            )
            parts = parts._replace(netloc=netloc)
        return urlunsplit(parts)


def store_exists(url: str, table: str = "events") -> bool:
    """Whether ``url`` names an existing database holding ``table`` (an event store by
    default), found without creating anything (an SQLite URL creates its file on connect)."""
    from sqlalchemy import create_engine, inspect

    if url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        path = make_url(url).database
        if not path or not Path(path).is_file():
            return False
    engine = create_engine(url)
    try:
        return inspect(engine).has_table(table)
    except Exception:
        return False
    finally:
        engine.dispose()
