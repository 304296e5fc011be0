"""Renewal of licences and review of operator items, and the sweep that applies the law's
deadlines to them (deemed renewal, missed reviews, reminders, expiry).

Functions of a ``Licence`` that return events without changing it; ``Licence.decide`` calls
them. Rules: a renewal is asked at least ``renewal_lead_days`` before expiry; undecided at
expiry it is *deemed granted*. An operator item's review is asked by ``review_by``; it is
refused over ``operator_max_age`` or after a gap of more than ``operator_max_gap_years``;
a failed or missed review invalidates the item, and with no valid item the certificate expires.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from infra.domain import Invalid, RuleConflict, Stamp, as_date, text

from ..common import Event, add_years
from .commands import DecideRenewal, RequestRenewal
from .events import (
    LicenceExpired,
    LicenceRenewed,
    OperatorItemInvalidated,
    OperatorItemReviewDue,
    RenewalRefused,
    RenewalRequested,
)
from .rules import ACTIVE, SUSPENDED, LicenceRules

if TYPE_CHECKING:
    from .aggregate import Licence


def request_renewal(
    lic: Licence, cmd: RequestRenewal, today: date, stamp: Stamp, rules: LicenceRules
) -> list[Event]:
    lic.require_status("RequestRenewal", ACTIVE)
    if lic.renewal is not None:
        raise RuleConflict("a renewal is already pending")
    if not lic.is_operator:
        if lic.valid_until is None:
            raise RuleConflict(f"{lic.kind} licences have no expiry to renew")
        last = lic.valid_until - timedelta(days=rules.renewal_lead_days)
        if today > last:
            raise RuleConflict(
                f"a renewal must be asked at least {rules.renewal_lead_days} days before "
                f"expiry ({lic.valid_until}), that is by {last}"
            )
        return [RenewalRequested(**stamp, requested_on=today, items=())]
    return request_review(lic, cmd, today, stamp, rules)


def request_review(
    lic: Licence, cmd: RequestRenewal, today: date, stamp: Stamp, rules: LicenceRules
) -> list[Event]:
    if isinstance(cmd.items, str | dict) or not cmd.items:
        raise Invalid("items", "name the work items to review")
    asked, failed = [], []
    for i, entry in enumerate(cmd.items):
        if not isinstance(entry, dict):
            raise Invalid(f"items.{i}", "must be an object {item, last_worked_on}")
        name = text(entry.get("item"), f"items.{i}.item")
        item = lic.items.get(name)
        if item is None or not item["valid"]:
            raise Invalid(f"items.{i}.item", "not a valid item of this certificate")
        last_worked = as_date(entry.get("last_worked_on"), f"items.{i}.last_worked_on")
        if last_worked > today:
            raise Invalid(f"items.{i}.last_worked_on", "must not be in the future")
        review_by = rules.review_by(item["valid_until"])
        if today > review_by:
            raise RuleConflict(
                f"the review of item {name} had to be asked by {review_by} "
                f"({rules.review_lead_months} month(s) before it expires)"
            )
        reason = review_refusal(lic, today, last_worked, rules)
        if reason:
            failed.append((name, reason))
        else:
            asked.append({"item": name, "last_worked_on": last_worked.isoformat()})
    events: list[Event] = []
    for name, reason in failed:
        events.append(
            RenewalRefused(**stamp, refused_on=today, reason=reason, items=(name,), automatic=True)
        )
        events.append(
            OperatorItemInvalidated(**stamp, item=name, reason=reason, invalidated_on=today)
        )
    if asked:
        events.append(RenewalRequested(**stamp, requested_on=today, items=tuple(asked)))
    elif valid_items_after(lic, events) == 0:
        events.append(LicenceExpired(**stamp, expired_on=today))
    return events


def review_refusal(lic: Licence, today: date, last_worked: date, rules: LicenceRules) -> str | None:
    born = (lic.person or {}).get("born_on")
    try:
        born_on = date.fromisoformat(born) if isinstance(born, str) else None
    except ValueError:
        born_on = None
    if born_on is not None and today > add_years(born_on, rules.operator_max_age):
        return f"review refused: the operator is over {rules.operator_max_age}"
    if today > add_years(last_worked, rules.operator_max_gap_years):
        return (
            f"review refused: a gap of more than {rules.operator_max_gap_years} year(s) in the item"
        )
    return None


def valid_items_after(lic: Licence, events: list[Event]) -> int:
    after = copy.deepcopy(lic)
    for e in events:
        after.apply(e)
    return sum(1 for i in after.items.values() if i["valid"])


def decide_renewal(
    lic: Licence, cmd: DecideRenewal, today: date, stamp: Stamp, rules: LicenceRules
) -> list[Event]:
    if lic.renewal is None:
        raise RuleConflict(f"no renewal is pending: the licence is {lic.status}")
    lic.require_status("DecideRenewal", ACTIVE, SUSPENDED)
    reason = text(cmd.reason, "reason")
    if cmd.outcome not in ("granted", "refused"):
        raise Invalid("outcome", "must be granted or refused")
    pending = [i["item"] for i in lic.renewal["items"]]
    if not lic.is_operator:
        # A renewal is only asked of a licence with an expiry (request_renewal).
        assert lic.valid_until is not None
        if today > lic.valid_until:
            raise RuleConflict(
                f"the renewal is deemed granted: the licence expired on {lic.valid_until} undecided"
            )
    if cmd.outcome == "refused":
        events: list[Event] = [
            RenewalRefused(
                **stamp, refused_on=today, reason=reason, items=tuple(pending), automatic=False
            )
        ]
        for name in pending:
            events.append(
                OperatorItemInvalidated(**stamp, item=name, reason=reason, invalidated_on=today)
            )
        if lic.is_operator and valid_items_after(lic, events) == 0:
            events.append(LicenceExpired(**stamp, expired_on=today))
        return events
    return [renewed(lic, stamp, today, pending, rules, deemed=False)]


def renewed(
    lic: Licence, stamp: Stamp, today: date, items: list[str], rules: LicenceRules, deemed: bool
) -> Event:
    if not lic.is_operator:
        # Renewed only after a renewal was asked (or deemed) of a licence with an expiry.
        assert lic.valid_until is not None
        new_until = add_years(lic.valid_until, rules.validity_years)
        return LicenceRenewed(
            **stamp, renewed_on=today, valid_until=new_until, items=(), deemed=deemed
        )
    renewed = tuple(
        {
            "item": name,
            "valid_until": add_years(
                lic.items[name]["valid_until"], rules.operator_item_years
            ).isoformat(),
        }
        for name in items
    )
    return LicenceRenewed(**stamp, renewed_on=today, valid_until=None, items=renewed, deemed=deemed)


def sweep(lic: Licence, today: date, now: Any, rules: LicenceRules) -> list[Event]:
    if lic.status not in (ACTIVE, SUSPENDED):
        return []
    stamp: Stamp = {"at": now, "actor": "system"}
    if not lic.is_operator:
        if lic.valid_until is None or today <= lic.valid_until:
            return []
        if lic.renewal is not None:
            return [renewed(lic, stamp, today, [], rules, deemed=True)]
        return [LicenceExpired(**stamp, expired_on=lic.valid_until + timedelta(days=1))]
    events: list[Event] = []
    pending = {i["item"] for i in (lic.renewal or {}).get("items", ())}
    expired_pending = []
    for name, item in sorted(lic.items.items()):
        if not item["valid"]:
            continue
        if today > item["valid_until"]:
            if name in pending:
                expired_pending.append(name)
            else:
                events.append(
                    OperatorItemInvalidated(
                        **stamp,
                        item=name,
                        reason="review missed",
                        invalidated_on=item["valid_until"] + timedelta(days=1),
                    )
                )
            continue
        review_by = rules.review_by(item["valid_until"])
        remind_on = review_by - timedelta(days=rules.review_reminder_days)
        if (
            name not in pending
            and item["reminded_for"] != item["valid_until"]
            and today >= remind_on
        ):
            events.append(
                OperatorItemReviewDue(
                    **stamp, item=name, valid_until=item["valid_until"], review_by=review_by
                )
            )
    if expired_pending:
        events.append(renewed(lic, stamp, today, expired_pending, rules, deemed=True))
    if events and valid_items_after(lic, events) == 0:
        events.append(LicenceExpired(**stamp, expired_on=today))
    return events
