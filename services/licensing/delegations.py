"""Delegations: grant, revoke, list (history included). Statuses are read on today's date
(``Delegation.status_on``)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select

from infra.clock import local_date
from infra.domain import derived_id
from infra.errors import Conflict, PreconditionFailed
from infra.repository import Repository
from infra.schemas import load
from services.licensing.domain import delegation as dd
from services.licensing.projections import delegations
from services.licensing.schemas.delegations import DelegationIn, RevocationIn


def grant(repo: Repository, now: datetime, body: dict) -> dict:
    """Grant a delegation; an identical one (same bureau, kinds and effective date) still in
    force is refused (409), so a repeated grant never doubles the history."""
    data = load(DelegationIn, body, "delegation")
    bureau, kinds = data["bureau"], tuple(dict.fromkeys(data["kinds"]))
    effective = date.fromisoformat(data["effective_from"])
    today = local_date(now)
    identical = _identical(repo.conn, bureau, kinds, effective)
    for row in identical:
        if row.revoked_from is None or row.revoked_from > today:
            raise Conflict(
                f"delegation {row.id} grants {bureau} the same kinds from {effective} and is "
                "in force: revoke it first, or grant from another date"
            )
    # The id follows from the terms and how many identical ones came before: two identical
    # grants racing write one stream, and the second is refused (409).
    delegation_id = derived_id("delegation", bureau, *sorted(kinds), effective, len(identical))
    delegation = dd.Delegation()
    command = dd.GrantDelegation(
        actor=repo.actor,
        delegation_id=delegation_id,
        bureau=bureau,
        kinds=kinds,
        effective_from=effective,
    )
    repo.decide_and_save(delegation_id, delegation, command, now)
    return delegation.view(today)


def _identical(conn, bureau: str, kinds: tuple[str, ...], effective: date) -> list:
    c = delegations.c
    rows = conn.execute(
        select(c.id, c.kinds, c.revoked_from).where(
            c.bureau == bureau, c.effective_from == effective
        )
    ).all()
    return [r for r in rows if set(json.loads(r.kinds)) == set(kinds)]


def revoke(
    repo: Repository,
    now: datetime,
    delegation_id: str,
    body: dict,
    expected_version: int | None = None,
) -> dict:
    data = load(RevocationIn, body, "revocation")
    delegation = repo.load(dd.Delegation, delegation_id, must_exist="delegation")
    if expected_version is not None and expected_version != delegation.version:
        raise PreconditionFailed(f"the delegation is at version {delegation.version}")
    command = dd.RevokeDelegation(
        actor=repo.actor,
        effective_from=date.fromisoformat(data["effective_from"]),
        reason=data["reason"],
    )
    repo.decide_and_save(delegation_id, delegation, command, now)
    return delegation.view(local_date(now))


def listing(
    conn, now: datetime, bureau: str | None, as_of: str | None, limit: int, after: list | None
) -> list[dict[str, Any]]:
    c = delegations.c
    q = select(delegations)
    if bureau:
        q = q.where(c.bureau == bureau)
    if as_of:
        day = date.fromisoformat(as_of)
        q = q.where(c.effective_from <= day, or_(c.revoked_from.is_(None), c.revoked_from > day))
    if after:
        on, last = date.fromisoformat(after[0]), after[1]
        q = q.where(or_(c.effective_from > on, and_(c.effective_from == on, c.id > last)))
    today = local_date(now)
    out = []
    for r in conn.execute(q.order_by(c.effective_from, c.id).limit(limit)):
        d = dd.Delegation(
            id=r.id,
            bureau=r.bureau,
            kinds=tuple(json.loads(r.kinds)),
            effective_from=r.effective_from,
            revoked_from=r.revoked_from,
            revocation_reason=r.revocation_reason,
            version=r.version,
        )
        out.append(d.view(today))
    return out
