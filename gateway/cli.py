"""``sesp token create|revoke|list``: API tokens, written straight into the gateway database
(``SESP_GATEWAY_DATABASE_URL`` or the SQLite file in ``SESP_DATA_DIR``)."""

from __future__ import annotations

import sys

import click

from gateway.auth import ROLES, TokenStore, claim_errors
from gateway.uscc_exceptions import UsccExceptionList
from infra.identifiers import uscc_exceptions
from infra.places import BUREAUS


def _store() -> TokenStore:
    from gateway.db import open_database

    return TokenStore(open_database())


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
    store = _store()
    # The USCC exception list applies here as over the API.
    listed = UsccExceptionList(store.engine).listed([uscc] if uscc else [])
    with uscc_exceptions(listed):
        errors = claim_errors(role, bureau, uscc)
    if errors:
        for field, messages in errors.items():
            click.echo(f"--{field}: {'; '.join(messages)}", err=True)
        sys.exit(2)
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
