"""Insurer policy sync: validate pushed policies, decide on each, save the changes in bulk.

A use case of ``InsuranceService.sync_policies`` (a batch: one result per policy) and
``sync_policy`` (one policy: a refusal is raised), kept apart from the nameko wiring.

Every policy a batch names is folded from its stream in one query (``load_many``), decides on
its push (``Policy.decide``), and the changes are saved together (``save_many``: one insert of
every event, the rows of every saved policy in a few statements). One bad or stale policy never
blocks the others. Refusals take their status and detail from the kit's one error table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from infra import errors
from infra.domain import Refused, from_data
from infra.eventstore import ConcurrencyError
from infra.repository import Repository, kernel_error
from services.insurance.domain import (
    Policy,
    SyncPolicy,
    Terms,
    outcome,
    policy_key,
)
from services.insurance.schemas import load_policy


@dataclass(frozen=True)
class Refusal:
    """A pushed policy that was not applied, and why (a kernel error: its HTTP status)."""

    policy_no: str | None
    error: errors.DomainError
    version: int | None = None  # of the stored policy, when there is one


Result = dict[str, Any] | Refusal
_Pending = tuple[int, SyncPolicy]  # (index in the batch, command)


def sync_policies(repo: Repository, now: datetime, insurer: str, items: list) -> list[dict]:
    """Apply pushed policies, each on its own. ``items``: ``[{"policy_no", ...fields}]``.

    One result per item: ``{"index", "policy_no", "status": 201|200|409|422, "outcome"?,
    "version"?, "detail"?, "errors"?}``."""
    results = _sync(repo, now, insurer, items)
    return [_as_dict(i, r) for i, r in enumerate(results)]


def sync_policy(
    repo: Repository,
    now: datetime,
    insurer: str,
    item: dict,
    expected_version: int | None = None,
) -> dict:
    """Apply one pushed policy; its refusal is raised (409 stale, 422 invalid...).

    ``expected_version`` (a PUT's ``If-Match``): the push is refused (412) unless the stored
    policy is at that version, checked in the transaction that writes it."""
    [result] = _sync(repo, now, insurer, [item], {0: expected_version})
    if isinstance(result, Refusal):
        raise result.error
    return _as_dict(0, result)


def _sync(
    repo: Repository,
    now: datetime,
    insurer: str,
    items: list,
    expected: dict[int, int | None] | None = None,
) -> list[Result]:
    results: list[Result | None] = [None] * len(items)
    pending: list[_Pending] = []
    actor = repo.actor
    for index, item in enumerate(items):
        try:
            data = load_policy(item, with_policy_no=True)
        except errors.Invalid as exc:
            policy_no = item.get("policy_no") if isinstance(item, dict) else None
            # A result names the policy by its number, which is text: anything else is the
            # error itself (reported on policy_no), not a number to echo.
            results[index] = Refusal(policy_no if isinstance(policy_no, str) else None, exc)
            continue
        command = SyncPolicy(
            actor=actor,
            insurer=insurer,
            policy_no=data.pop("policy_no"),
            revision=data.pop("revision"),
            terms=from_data(Terms, data),
        )
        pending.append((index, command))
    keys = dict.fromkeys(policy_key(insurer, c.policy_no) for _, c in pending)
    policies = repo.load_many(Policy, keys)
    # A batch may name one policy twice (two revisions): each round holds a policy once, and
    # a later round decides on the aggregate the earlier one saved.
    while pending:
        seen: set[str] = set()
        this_round: list[_Pending] = []
        later: list[_Pending] = []
        for entry in pending:
            (later if entry[1].policy_no in seen else this_round).append(entry)
            seen.add(entry[1].policy_no)
        _sync_round(repo, now, policies, this_round, results, expected or {})
        pending = later
    return cast(list[Result], results)  # every item got its result by now


def _sync_round(
    repo: Repository,
    now: datetime,
    policies: dict[str, Policy],
    entries: list[_Pending],
    results: list[Result | None],
    expected: dict[int, int | None],
) -> None:
    """Decide on each policy, then save every change at once."""
    changes: list[tuple[str, Policy, list]] = []
    decided: list[tuple[int, SyncPolicy]] = []
    for index, command in entries:
        key = policy_key(command.insurer, command.policy_no)
        policy = policies[key]
        wanted = expected.get(index)
        if wanted is not None and wanted != policy.version:
            failed = errors.PreconditionFailed(
                f"policy {command.policy_no} is at version {policy.version}, not {wanted}"
            )
            results[index] = Refusal(command.policy_no, failed, policy.version)
            continue
        try:
            events = policy.decide(command, now)
        except Refused as exc:
            results[index] = Refusal(command.policy_no, kernel_error(exc), policy.version)
            continue
        if not events:
            results[index] = _applied(command.policy_no, "unchanged", policy.version)
            continue
        changes.append((key, policy, events))
        decided.append((index, command))
    if not changes:
        return
    written = repo.save_many(changes)
    for (index, command), (_, policy, events), got in zip(decided, changes, written, strict=True):
        if isinstance(got, ConcurrencyError):
            results[index] = Refusal(command.policy_no, kernel_error(got))
        else:
            results[index] = _applied(command.policy_no, outcome(events), policy.version)


def _applied(policy_no: str, what: str, version: int) -> dict[str, Any]:
    status = 201 if what == "created" else 200
    return {"policy_no": policy_no, "status": status, "outcome": what, "version": version}


def _as_dict(index: int, result: Result) -> dict[str, Any]:
    if not isinstance(result, Refusal):
        return {"index": index, **result}
    error = result.error
    out: dict[str, Any] = {
        "index": index,
        "policy_no": result.policy_no,
        "status": error.status,
        "detail": error.detail,
    }
    if error.errors:
        out["errors"] = error.errors
    if result.version is not None:
        out["version"] = result.version
    return out
