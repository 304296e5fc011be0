"""``sesp token create|revoke|list``: API tokens, written straight into the gateway database
(``SESP_GATEWAY_DATABASE_URL`` or the SQLite file in ``SESP_DATA_DIR``)."""

from __future__ import annotations

import sys

import click

from gateway.auth import ROLES, TokenStore, claim_errors
from gateway.uscc_exceptions import UsccExceptionList
from infra import settings
from infra.clitools import fail, say, shown, store_exists
from infra.identifiers import uscc_exceptions
from infra.places import BUREAUS


def _store(create: bool = False) -> TokenStore:
    """The token store in the gateway database the settings name. Only ``create`` makes a
    database that does not exist yet, and then warns: a running gateway reads its own
    database, and would answer 401 to a token written anywhere else."""
    from gateway.db import open_database

    url = settings.database_url("gateway")
    exists = _gateway_database_exists()
    say(f"gateway database {shown(url)}")
    hint = "check SESP_DATA_DIR or SESP_GATEWAY_DATABASE_URL (the running gateway's)"
    if not exists and not create:
        fail(f"no gateway database there: {hint}")
    if not exists:
        say(
            "WARNING: this gateway database did not exist and was created now; a gateway "
            f"running on another database will refuse the token (401): {hint}"
        )
    return TokenStore(open_database(url))


def _gateway_database_exists() -> bool:
    return store_exists(settings.database_url("gateway"), "api_tokens")


@click.group("token")
def token() -> None:
    """API tokens: roles and scopes as in the API contract; stored hashed."""


@token.command("create")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--bureau", type=click.Choice(BUREAUS), help="bureau_officer: the bureau code.")
@click.option("--uscc", help="applicant, maintenance_unit, insurer: the unit's USCC.")
@click.option("--name", required=True, help="Who or what holds the token.")
def create(role: str, bureau: str | None, uscc: str | None, name: str) -> None:
    """Create a token; its secret is printed once, as the last line."""
    errors = claim_errors(role, bureau, uscc)
    store = None
    if uscc and errors.get("uscc") and _gateway_database_exists():
        # The USCC exception list applies here as over the API.
        store = _store()
        with uscc_exceptions(UsccExceptionList(store.engine).listed([uscc])):
            errors = claim_errors(role, bureau, uscc)
    if errors:
        for field, messages in errors.items():
            click.echo(f"--{field}: {'; '.join(messages)}", err=True)
        sys.exit(2)
    store = store or _store(create=True)
    secret, record = store.create(role=role, name=name, bureau=bureau, uscc=uscc, created_by="cli")
    scope = record["bureau"] or record["uscc"] or "city"
    click.echo(f"token {record['id']} for {name!r}: role {role}, scope {scope}")
    click.echo(secret)


@token.command("revoke")
@click.argument("token_id")
def revoke(token_id: str) -> None:
    """Revoke a token by id; it is refused from the next request on."""
    if not _store().revoke(token_id):
        click.echo(f"no token {token_id}", err=True)
        sys.exit(1)
    click.echo(f"revoked {token_id}")


@token.command("list")
def list_tokens() -> None:
    """List tokens (ids, roles, scopes; never secrets)."""
    store, after = _store(), None
    while True:
        page = store.list(500, after)
        for t in page:
            state = f"revoked {t['revoked_at']}" if t["revoked_at"] else "active"
            scope = t["bureau"] or t["uscc"] or "city"
            click.echo(f"{t['id']}\t{t['role']}\t{scope}\t{t['name']}\t{state}")
        if len(page) < 500:
            break
        from datetime import datetime

        last = page[-1]
        after = (datetime.fromisoformat(last["created_at"]).replace(tzinfo=None), last["id"])
