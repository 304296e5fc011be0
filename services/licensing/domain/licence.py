"""Licences issued on approval (许可证): validity, renewal, suspension, revocation, expiry.

Stream ``licence-<licence_no>``. ``Licence.decide`` checks and returns events, ``apply`` folds.

- Production and pressure-piping licences are valid 4 years (*configurable*); a renewal must be
  asked at least 30 days before expiry; if the bureau has not decided by the expiry date, the
  renewal is *deemed granted* (the sweep records it the day after expiry).
- An operator certificate holds work items, each valid 4 years with its own expiry. A review
  (复审) must be asked at least 1 month before the item expires (*configurable*: older rules say
  3); a reminder is recorded 30 days before that. A review is refused over age 65 (after the
  65th birthday) or after a gap of more than one year in the item; a failed or missed review
  invalidates that item. Once no item is valid the certificate has expired.
- A use registration certificate has no expiry (the equipment's lifecycle is the register's).

Personal data (an operator's ID number, name, birth date) lives under ``person`` only, as in
the application's events, so the service wraps it for encryption.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, ClassVar

from .common import (
    Command,
    Event,
    Invalid,
    RuleConflict,
    _text,
    add_years,
    as_date,
    local_date,
)

ACTIVE, SUSPENDED, REVOKED, EXPIRED = "active", "suspended", "revoked", "expired"
KIND_CODES = {
    "use_registration": "UR",
    "operator_certificate": "OC",
    "construction_notice": "CN",
    "pressure_piping_licence": "PP",
    "production_licence": "PL",
}


@dataclass(frozen=True)
class LicenceRules:
    """The *configurable* numbers of licences (a versioned rule set in all but name)."""

    validity_years: int = 4
    operator_item_years: int = 4
    renewal_lead_days: int = 30
    review_lead_months: int = 1
    review_reminder_days: int = 30
    operator_max_age: int = 65
    operator_max_gap_years: int = 1

    def review_by(self, item_valid_until: date) -> date:
        """The last day to ask for the review of an item expiring on ``item_valid_until``."""
        month = item_valid_until.month - self.review_lead_months
        year = item_valid_until.year + (month - 1) // 12
        month = (month - 1) % 12 + 1
        day = min(item_valid_until.day, _days_in_month(year, month))
        return date(year, month, day)


def _days_in_month(year: int, month: int) -> int:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def licence_number(kind: str, bureau: str, year: int, sequence: int) -> str:
    """``PL-FTZ-2014-00001``: kind, issuing bureau, year of the decision, sequence."""
    return f"{KIND_CODES[kind]}-{bureau}-{year}-{sequence:05d}"


def decision_number(licence_no: str) -> str:
    """The public decision number (许可决定书文号) of the decision that issued a licence."""
    return f"XK-{licence_no}"


def default_valid_until(kind: str, decided_on: date, rules: LicenceRules) -> date | None:
    if kind in ("production_licence", "pressure_piping_licence"):
        return add_years(decided_on, rules.validity_years) - timedelta(days=1)
    if kind == "operator_certificate":
        return add_years(decided_on, rules.operator_item_years) - timedelta(days=1)
    return None


# --- commands -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class IssueLicence(Command):
    licence_no: str
    kind: str
    bureau: str
    application_id: str
    decided_on: date
    holder: dict
    person: dict | None = None
    valid_until: date | None = None
    scope: tuple[str, ...] = ()
    level: str | None = None
    equipment_code: str | None = None
    items: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RequestRenewal(Command):
    """For an operator certificate, ``items`` = ``[{"item", "last_worked_on"}]`` to review."""

    items: tuple[dict, ...] = ()


@dataclass(frozen=True, kw_only=True)
class DecideRenewal(Command):
    outcome: str  # granted | refused
    reason: str


@dataclass(frozen=True, kw_only=True)
class SuspendLicence(Command):
    reason: str


@dataclass(frozen=True, kw_only=True)
class ReinstateLicence(Command):
    reason: str


@dataclass(frozen=True, kw_only=True)
class RevokeLicence(Command):
    reason: str


@dataclass(frozen=True, kw_only=True)
class SweepLicence(Command):
    """Sent by the timer sweep: reminders, deemed renewal, lapsed items, expiry (if due)."""

    actor: str = "system"


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LicenceIssued(Event):
    """A licence was issued on the approval of ``application_id`` by decision ``decision_no``.

    ``holder`` names an organization (``uscc``, ``name``) or says ``{"type": "person"}``, whose
    data is in ``person`` (personal, encrypted). ``items`` (operator certificates) carry their
    own ``valid_until``; ``valid_until`` is None for a licence without expiry."""

    licence_no: str
    kind: str
    bureau: str
    application_id: str
    decision_no: str
    decided_on: date
    holder: dict
    person: dict | None
    valid_from: date
    valid_until: date | None
    scope: tuple[str, ...]
    level: str | None
    equipment_code: str | None
    items: tuple[dict, ...]
    timeline_type: ClassVar[str] = "issued"
    timeline_details: ClassVar[tuple[str, ...]] = ("decision_no", "valid_until")


@dataclass(frozen=True, kw_only=True)
class RenewalRequested(Event):
    """The holder asked for renewal (or, for an operator, the review of ``items``)."""

    requested_on: date
    items: tuple[dict, ...]
    timeline_type: ClassVar[str] = "renewal_requested"
    timeline_details: ClassVar[tuple[str, ...]] = ("items",)


@dataclass(frozen=True, kw_only=True)
class LicenceRenewed(Event):
    """The renewal was granted (``deemed``: undecided at expiry, granted by law); the licence
    (or each renewed item) is valid until the new date."""

    renewed_on: date
    valid_until: date | None
    items: tuple[dict, ...]
    deemed: bool
    timeline_type: ClassVar[str] = "renewed"
    timeline_details: ClassVar[tuple[str, ...]] = ("valid_until", "items", "deemed")


@dataclass(frozen=True, kw_only=True)
class RenewalRefused(Event):
    """The renewal (review of ``items``) was refused for ``reason``; ``automatic`` when a rule
    (age, gap) refused it at once."""

    refused_on: date
    reason: str
    items: tuple[str, ...]
    automatic: bool
    timeline_type: ClassVar[str] = "renewal_refused"
    timeline_details: ClassVar[tuple[str, ...]] = ("items", "automatic")


@dataclass(frozen=True, kw_only=True)
class LicenceSuspended(Event):
    """The bureau suspended the licence (暂停) for ``reason``."""

    reason: str
    suspended_on: date
    timeline_type: ClassVar[str] = "suspended"


@dataclass(frozen=True, kw_only=True)
class LicenceReinstated(Event):
    """A suspended licence is in force again."""

    reason: str
    reinstated_on: date
    timeline_type: ClassVar[str] = "reinstated"


@dataclass(frozen=True, kw_only=True)
class LicenceRevoked(Event):
    """The bureau revoked the licence (撤销/吊销) for ``reason``; final."""

    reason: str
    revoked_on: date
    timeline_type: ClassVar[str] = "revoked"


@dataclass(frozen=True, kw_only=True)
class LicenceExpired(Event):
    """The licence ran out on ``valid_until`` without renewal (or, for an operator, no item is
    valid any more); final."""

    expired_on: date
    timeline_type: ClassVar[str] = "expired"


@dataclass(frozen=True, kw_only=True)
class OperatorItemReviewDue(Event):
    """Reminder: the review of ``item`` (valid until ``valid_until``) must be asked by
    ``review_by``."""

    item: str
    valid_until: date
    review_by: date
    timeline_type: ClassVar[str] = "review_reminder"
    timeline_details: ClassVar[tuple[str, ...]] = ("item", "review_by")


@dataclass(frozen=True, kw_only=True)
class OperatorItemInvalidated(Event):
    """The work ``item`` is no longer valid: its review failed or was missed."""

    item: str
    reason: str
    invalidated_on: date
    timeline_type: ClassVar[str] = "item_invalidated"
    timeline_details: ClassVar[tuple[str, ...]] = ("item",)


EVENT_TYPES: dict[str, type[Event]] = {
    c.__name__: c
    for c in (
        LicenceIssued,
        RenewalRequested,
        LicenceRenewed,
        RenewalRefused,
        LicenceSuspended,
        LicenceReinstated,
        LicenceRevoked,
        LicenceExpired,
        OperatorItemReviewDue,
        OperatorItemInvalidated,
    )
}


# --- the aggregate --------------------------------------------------------------------------


@dataclass
class Licence:
    """State of one licence, folded from its events."""

    licence_no: str | None = None
    kind: str | None = None
    bureau: str | None = None
    application_id: str | None = None
    decision_no: str | None = None
    decided_on: date | None = None
    holder: dict = field(default_factory=dict)
    person: dict | None = None
    status: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    scope: tuple[str, ...] = ()
    level: str | None = None
    equipment_code: str | None = None
    # item -> {"valid_until": date, "valid": bool, "reminded_for": date | None, "reason"}
    items: dict[str, dict] = field(default_factory=dict)
    renewal: dict | None = None  # {"requested_on": date, "items": [...]} while pending
    timeline: list[dict] = field(default_factory=list)
    version: int = 0

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator_certificate"

    def next_check_on(self, rules: LicenceRules) -> date | None:
        """The first day the sweep has something to do for this licence (None: never)."""
        if self.status not in (ACTIVE, SUSPENDED):
            return None
        if not self.is_operator:
            return self.valid_until + timedelta(days=1) if self.valid_until else None
        days = []
        pending = {i["item"] for i in (self.renewal or {}).get("items", ())}
        for name, item in self.items.items():
            if not item["valid"]:
                continue
            days.append(item["valid_until"] + timedelta(days=1))
            if item["reminded_for"] != item["valid_until"] and name not in pending:
                remind = rules.review_by(item["valid_until"]) - timedelta(
                    days=rules.review_reminder_days
                )
                days.append(remind)
        return min(days) if days else None

    # --- decide ---

    def decide(self, command: Command, now: Any, rules: LicenceRules) -> list[Event]:
        today = local_date(now)
        stamp = {"at": now, "actor": command.actor}
        if isinstance(command, IssueLicence):
            if self.version:
                raise RuleConflict(f"licence {self.licence_no} exists already")
            return [self._issue(command, stamp, rules)]
        if not self.version:
            raise RuleConflict("no such licence")
        name = type(command).__name__
        if isinstance(command, SweepLicence):
            return self._sweep(today, now, rules)
        if isinstance(command, SuspendLicence):
            self._require(name, ACTIVE)
            return [
                LicenceSuspended(
                    **stamp, reason=_text(command.reason, "reason"), suspended_on=today
                )
            ]
        if isinstance(command, ReinstateLicence):
            self._require(name, SUSPENDED)
            return [
                LicenceReinstated(
                    **stamp, reason=_text(command.reason, "reason"), reinstated_on=today
                )
            ]
        if isinstance(command, RevokeLicence):
            self._require(name, ACTIVE, SUSPENDED)
            return [
                LicenceRevoked(**stamp, reason=_text(command.reason, "reason"), revoked_on=today)
            ]
        if isinstance(command, RequestRenewal):
            return self._request_renewal(command, today, stamp, rules)
        if isinstance(command, DecideRenewal):
            return self._decide_renewal(command, today, stamp, rules)
        raise RuleConflict(f"{name} does not apply to a licence")

    def _require(self, command: str, *statuses: str) -> None:
        if self.status not in statuses:
            raise RuleConflict(f"{command} is not allowed: the licence is {self.status}")

    def _issue(self, cmd: IssueLicence, stamp: dict, rules: LicenceRules) -> Event:
        decided_on = as_date(cmd.decided_on, "decided_on")
        valid_until = cmd.valid_until or default_valid_until(cmd.kind, decided_on, rules)
        items: tuple[dict, ...] = ()
        if cmd.kind == "operator_certificate":
            items = tuple({"item": i, "valid_until": valid_until.isoformat()} for i in cmd.items)
        return LicenceIssued(
            **stamp,
            licence_no=_text(cmd.licence_no, "licence_no"),
            kind=cmd.kind,
            bureau=cmd.bureau,
            application_id=cmd.application_id,
            decision_no=decision_number(cmd.licence_no),
            decided_on=decided_on,
            holder=dict(cmd.holder),
            person=dict(cmd.person) if cmd.person is not None else None,
            valid_from=decided_on,
            valid_until=valid_until,
            scope=tuple(cmd.scope),
            level=cmd.level,
            equipment_code=cmd.equipment_code,
            items=items,
        )

    def _request_renewal(
        self, cmd: RequestRenewal, today: date, stamp: dict, rules: LicenceRules
    ) -> list[Event]:
        self._require("RequestRenewal", ACTIVE)
        if self.renewal is not None:
            raise RuleConflict("a renewal is already pending")
        if not self.is_operator:
            if self.valid_until is None:
                raise RuleConflict(f"a {self.kind} licence has no expiry to renew")
            last = self.valid_until - timedelta(days=rules.renewal_lead_days)
            if today > last:
                raise RuleConflict(
                    f"a renewal must be asked at least {rules.renewal_lead_days} days before "
                    f"expiry ({self.valid_until}), that is by {last}"
                )
            return [RenewalRequested(**stamp, requested_on=today, items=())]
        return self._request_review(cmd, today, stamp, rules)

    def _request_review(
        self, cmd: RequestRenewal, today: date, stamp: dict, rules: LicenceRules
    ) -> list[Event]:
        if isinstance(cmd.items, str | dict) or not cmd.items:
            raise Invalid("items", "name the work items to review")
        asked, failed = [], []
        for i, entry in enumerate(cmd.items):
            if not isinstance(entry, dict):
                raise Invalid(f"items.{i}", "must be an object {item, last_worked_on}")
            name = _text(entry.get("item"), f"items.{i}.item")
            item = self.items.get(name)
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
            reason = self._review_refusal(today, last_worked, rules)
            if reason:
                failed.append((name, reason))
            else:
                asked.append({"item": name, "last_worked_on": last_worked.isoformat()})
        events: list[Event] = []
        for name, reason in failed:
            events.append(
                RenewalRefused(
                    **stamp, refused_on=today, reason=reason, items=(name,), automatic=True
                )
            )
            events.append(
                OperatorItemInvalidated(**stamp, item=name, reason=reason, invalidated_on=today)
            )
        if asked:
            events.append(RenewalRequested(**stamp, requested_on=today, items=tuple(asked)))
        elif self._valid_items_after(events) == 0:
            events.append(LicenceExpired(**stamp, expired_on=today))
        return events

    def _review_refusal(self, today: date, last_worked: date, rules: LicenceRules) -> str | None:
        born = (self.person or {}).get("born_on")
        try:
            born_on = date.fromisoformat(born) if isinstance(born, str) else None
        except ValueError:
            born_on = None
        if born_on is not None and today > add_years(born_on, rules.operator_max_age):
            return f"review refused: the operator is over {rules.operator_max_age}"
        if today > add_years(last_worked, rules.operator_max_gap_years):
            return (
                f"review refused: a gap of more than {rules.operator_max_gap_years} year(s) "
                "in the item"
            )
        return None

    def _valid_items_after(self, events: list[Event]) -> int:
        after = copy.deepcopy(self)
        for e in events:
            after.apply(e)
        return sum(1 for i in after.items.values() if i["valid"])

    def _decide_renewal(
        self, cmd: DecideRenewal, today: date, stamp: dict, rules: LicenceRules
    ) -> list[Event]:
        if self.renewal is None:
            raise RuleConflict(f"no renewal is pending: the licence is {self.status}")
        self._require("DecideRenewal", ACTIVE, SUSPENDED)
        reason = _text(cmd.reason, "reason")
        if cmd.outcome not in ("granted", "refused"):
            raise Invalid("outcome", "must be granted or refused")
        pending = [i["item"] for i in self.renewal["items"]]
        if not self.is_operator and today > self.valid_until:
            raise RuleConflict(
                f"the renewal is deemed granted: the licence expired on {self.valid_until} "
                "undecided"
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
            if self.is_operator and self._valid_items_after(events) == 0:
                events.append(LicenceExpired(**stamp, expired_on=today))
            return events
        return [self._renewed(stamp, today, pending, rules, deemed=False)]

    def _renewed(
        self, stamp: dict, today: date, items: list[str], rules: LicenceRules, deemed: bool
    ) -> Event:
        if not self.is_operator:
            new_until = add_years(self.valid_until, rules.validity_years)
            return LicenceRenewed(
                **stamp, renewed_on=today, valid_until=new_until, items=(), deemed=deemed
            )
        renewed = tuple(
            {
                "item": name,
                "valid_until": add_years(
                    self.items[name]["valid_until"], rules.operator_item_years
                ).isoformat(),
            }
            for name in items
        )
        return LicenceRenewed(
            **stamp, renewed_on=today, valid_until=None, items=renewed, deemed=deemed
        )

    def _sweep(self, today: date, now: Any, rules: LicenceRules) -> list[Event]:
        if self.status not in (ACTIVE, SUSPENDED):
            return []
        stamp = {"at": now, "actor": "system"}
        if not self.is_operator:
            if self.valid_until is None or today <= self.valid_until:
                return []
            if self.renewal is not None:
                return [self._renewed(stamp, today, [], rules, deemed=True)]
            return [LicenceExpired(**stamp, expired_on=self.valid_until + timedelta(days=1))]
        events: list[Event] = []
        pending = {i["item"] for i in (self.renewal or {}).get("items", ())}
        expired_pending = []
        for name, item in sorted(self.items.items()):
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
            events.append(self._renewed(stamp, today, expired_pending, rules, deemed=True))
        if events and self._valid_items_after(events) == 0:
            events.append(LicenceExpired(**stamp, expired_on=today))
        return events

    # --- apply ---

    def apply(self, event: Event) -> None:
        """Fold one event into state. Never checks."""
        match event:
            case LicenceIssued():
                self.licence_no, self.kind, self.bureau = event.licence_no, event.kind, event.bureau
                self.application_id, self.decision_no = event.application_id, event.decision_no
                self.decided_on, self.holder = event.decided_on, dict(event.holder)
                self.person = dict(event.person) if event.person is not None else None
                self.status = ACTIVE
                self.valid_from, self.valid_until = event.valid_from, event.valid_until
                self.scope, self.level = tuple(event.scope), event.level
                self.equipment_code = event.equipment_code
                self.items = {
                    i["item"]: {
                        "valid_until": date.fromisoformat(i["valid_until"]),
                        "valid": True,
                        "reminded_for": None,
                        "reason": None,
                    }
                    for i in event.items
                }
            case RenewalRequested():
                self.renewal = {"requested_on": event.requested_on, "items": list(event.items)}
            case LicenceRenewed():
                self.renewal = None
                if event.valid_until is not None:
                    self.valid_until = event.valid_until
                for i in event.items:
                    self.items[i["item"]].update(
                        valid_until=date.fromisoformat(i["valid_until"]), reminded_for=None
                    )
            case RenewalRefused():
                if not event.automatic:
                    self.renewal = None
            case LicenceSuspended():
                self.status = SUSPENDED
            case LicenceReinstated():
                self.status = ACTIVE
            case LicenceRevoked():
                self.status, self.renewal = REVOKED, None
            case LicenceExpired():
                self.status, self.renewal = EXPIRED, None
            case OperatorItemReviewDue():
                self.items[event.item]["reminded_for"] = event.valid_until
            case OperatorItemInvalidated():
                self.items[event.item].update(valid=False, reason=event.reason)
        if self.is_operator and self.items:
            valid = [i["valid_until"] for i in self.items.values() if i["valid"]]
            if valid:
                self.valid_until = max(valid)
        entry = event.timeline_entry()
        if entry is not None:
            self.timeline.append(entry)
        self.version += 1

    @classmethod
    def from_events(cls, events) -> Licence:
        licence = cls()
        for e in events:
            licence.apply(e)
        return licence

    # --- views ---

    def view(self) -> dict[str, Any]:
        """The licence as the API shows it to those who may see it (person included)."""
        out: dict[str, Any] = {
            "licence_no": self.licence_no,
            "kind": self.kind,
            "bureau": self.bureau,
            "status": self.status,
            "holder": self.holder_view(),
            "application_id": self.application_id,
            "decision_no": self.decision_no,
            "decided_on": _iso(self.decided_on),
            "valid_from": _iso(self.valid_from),
            "valid_until": _iso(self.valid_until),
            "scope": list(self.scope),
            "level": self.level,
            "equipment_code": self.equipment_code,
            "renewal": (
                {
                    "requested_on": _iso(self.renewal["requested_on"]),
                    "items": list(self.renewal["items"]),
                }
                if self.renewal
                else None
            ),
            "timeline": list(self.timeline),
            "version": self.version,
        }
        if self.is_operator:
            out["items"] = [
                {
                    "item": k,
                    "valid_until": _iso(v["valid_until"]),
                    "status": "valid" if v["valid"] else "invalid",
                    **({"reason": v["reason"]} if v["reason"] else {}),
                }
                for k, v in sorted(self.items.items())
            ]
        return out

    def holder_view(self) -> dict[str, Any]:
        if self.holder.get("type") == "person":
            person = self.person or {}
            return {
                "type": "person",
                "name": person.get("name"),
                "id_number": person.get("id_number"),
            }
        return dict(self.holder)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
