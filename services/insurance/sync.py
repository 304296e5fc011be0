"""Insurer policy sync: validate a pushed batch, decide on each policy, write the changes.

A use case of ``InsuranceService.sync_policies``, kept apart from the nameko wiring so the
batch logic (rounds, bulk appends, per-item results) reads on its own.
"""

from __future__ import annotations

import json
from typing import cast

from marshmallow import ValidationError
from sqlalchemy import select

from infra.bus.dependencies import UnitOfWork
from infra.eventstore import ConcurrencyError, NewEvent
from services.insurance import domain
from services.insurance.projections import policies, project_many
from services.insurance.schemas import flatten_errors, load_policy

# A pushed policy that passed validation: (index in the batch, policy_no, revision, terms).
_Decided = tuple[int, str, int, domain.Terms]


def sync_policies(db: UnitOfWork, insurer: str, items: list[dict], meta: dict) -> list[dict]:
    """Apply pushed policies, each on its own (one bad policy never blocks the others).

    ``items``: ``[{"policy_no", ...policy fields}]``. Returns one result per item:
    ``{"policy_no", "status": 201|200|409|422, "errors"?, "detail"?, "version"?}``.
    """
    conn = db.conn
    nos = [i.get("policy_no") for i in items if isinstance(i, dict)]
    current = {
        r.policy_no: r
        for r in conn.execute(
            select(
                policies.c.policy_no,
                policies.c.revision,
                policies.c.digest,
                policies.c.version,
                policies.c.terms,
            ).where(policies.c.insurer == insurer, policies.c.policy_no.in_(nos))
        )
    }
    results: list[dict | None] = [None] * len(items)
    decided: list[_Decided] = []
    for index, item in enumerate(items):
        policy_no = item.get("policy_no") if isinstance(item, dict) else None
        try:
            data = load_policy(item, with_policy_no=True)
        except ValidationError as exc:
            results[index] = {
                "index": index,
                "policy_no": policy_no,
                "status": 422,
                "errors": flatten_errors(exc.messages),
            }
            continue
        policy_no = data.pop("policy_no")
        revision = data.pop("revision")
        decided.append((index, policy_no, revision, domain.Terms.from_dict(data)))
    # A batch may name one policy twice (two revisions): each round holds a policy once,
    # and a later round decides on what the earlier one wrote.
    while decided:
        seen: set[str] = set()
        this_round: list[_Decided] = []
        decided_next: list[_Decided] = []
        for entry in decided:
            (this_round if entry[1] not in seen else decided_next).append(entry)
            seen.add(entry[1])
        _sync_round(db, insurer, this_round, current, meta, results)
        decided = decided_next
    return cast(list[dict], results)  # every item got its result by now


def _sync_round(db, insurer, entries, current, meta, results) -> None:
    """Decide on each policy, then write every change in a few statements.

    ``current`` maps a policy number to its read-model row, or to its decision state once
    this batch has written it (a later round then decides on that)."""
    conn = db.conn
    appends, changes = [], []
    for index, policy_no, revision, terms in entries:
        policy = current.get(policy_no)
        if not isinstance(policy, domain.Policy):
            policy = policy_state(insurer, policy_no, policy)
        try:
            outcome, events = policy.sync(revision, terms)
        except domain.StaleRevision as exc:
            results[index] = {
                "index": index,
                "policy_no": policy_no,
                "status": 409,
                "detail": str(exc),
                "version": policy.version,
            }
            continue
        if not events:
            results[index] = {
                "index": index,
                "policy_no": policy_no,
                "status": 200,
                "outcome": outcome,
                "version": policy.version,
            }
            continue
        appends.append(
            (
                domain.stream_id(insurer, policy_no),
                policy.version,
                [NewEvent(e.type, e.to_data()) for e in events],
            )
        )
        changes.append((index, policy_no, outcome, policy, events))
    if not appends:
        return
    written = db.store.append_many(conn, appends, meta)
    stored = []
    digests: dict[str, str] = {}
    for (index, policy_no, outcome, policy, events), got in zip(changes, written, strict=True):
        if isinstance(got, ConcurrencyError) or not got:
            results[index] = {
                "index": index,
                "policy_no": policy_no,
                "status": 409,
                "detail": "the policy was changed concurrently",
            }
            continue
        stored.extend(got)
        for event in events:
            policy.apply(event)  # the terms' digest is computed once, here
        current[policy_no] = policy
        digests[got[-1].event_id] = policy.digest
        results[index] = {
            "index": index,
            "policy_no": policy_no,
            "status": 201 if outcome == "created" else 200,
            "outcome": outcome,
            "version": policy.version,
        }
    project_many(conn, stored, digests)


def policy_state(insurer: str, policy_no: str, row) -> domain.Policy:
    """The aggregate's decision state from its read-model row (same transaction as events)."""
    policy = domain.Policy(insurer, policy_no)
    if row is not None:
        row = row._mapping if hasattr(row, "_mapping") else row
        policy.revision, policy.digest, policy.version = (
            row["revision"],
            row["digest"],
            row["version"],
        )
        policy.terms = domain.Terms.from_dict(json.loads(row["terms"]))
        if "status" in row:
            policy.lapsed = row["status"] == "lapsed"
    return policy
