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

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from infra.clock import local_date
from infra.domain import Command, RuleConflict, Stamp, as_date, text

from ..common import Event
from . import renewal
from .commands import (
    DecideRenewal,
    IssueLicence,
    MoveSupervision,
    ReinstateLicence,
    RequestRenewal,
    RevokeLicence,
    SuspendLicence,
    SweepLicence,
    TransferLicence,
)
from .events import (
    LicenceExpired,
    LicenceIssued,
    LicenceReinstated,
    LicenceRenewed,
    LicenceRevoked,
    LicenceSuspended,
    LicenceTransferred,
    OperatorItemInvalidated,
    OperatorItemReviewDue,
    RenewalRefused,
    RenewalRequested,
    SupervisionMoved,
)
from .rules import (
    ACTIVE,
    EXPIRED,
    REVOKED,
    SUSPENDED,
    TRANSFERRED,
    LicenceRules,
    decision_number,
    default_valid_until,
)


@dataclass
class Licence:
    """State of one licence, folded from its events."""

    licence_no: str | None = None
    kind: str | None = None
    bureau: str | None = None  # the issuing authority (the decision's)
    # The bureau that acts on the licence: the issuer, until a relocation moves a use
    # registration's unit to a place of another bureau.
    supervised_by: str | None = None
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
    transferred_to: str | None = None  # the certificate that replaced this one
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
        stamp: Stamp = {"at": now, "actor": command.actor}
        if isinstance(command, IssueLicence):
            if self.version:
                raise RuleConflict(f"licence {self.licence_no} exists already")
            return [self._issue(command, stamp, rules)]
        if not self.version:
            raise RuleConflict("no such licence")
        name = type(command).__name__
        if isinstance(command, SweepLicence):
            return renewal.sweep(self, today, now, rules)
        if isinstance(command, SuspendLicence):
            self.require_status(name, ACTIVE)
            return [
                LicenceSuspended(**stamp, reason=text(command.reason, "reason"), suspended_on=today)
            ]
        if isinstance(command, ReinstateLicence):
            self.require_status(name, SUSPENDED)
            return [
                LicenceReinstated(
                    **stamp, reason=text(command.reason, "reason"), reinstated_on=today
                )
            ]
        if isinstance(command, RevokeLicence):
            self.require_status(name, ACTIVE, SUSPENDED)
            return [
                LicenceRevoked(**stamp, reason=text(command.reason, "reason"), revoked_on=today)
            ]
        if isinstance(command, TransferLicence):
            if self.kind != "use_registration":
                raise RuleConflict(f"{self.kind} licences cannot be transferred")
            self.require_status(name, ACTIVE)
            return [
                LicenceTransferred(
                    **stamp,
                    to_licence_no=text(command.to_licence_no, "to_licence_no"),
                    to_holder=dict(command.to_holder),
                    application_id=command.application_id,
                    transferred_on=today,
                )
            ]
        if isinstance(command, MoveSupervision):
            if self.kind != "use_registration":
                raise RuleConflict(f"{self.kind} licences stay with the bureau that issued them")
            self.require_status(name, ACTIVE, SUSPENDED)
            assert self.supervised_by is not None  # issued: the issue set it
            if command.to_bureau == self.supervised_by:
                return []
            return [
                SupervisionMoved(
                    **stamp,
                    from_bureau=self.supervised_by,
                    to_bureau=command.to_bureau,
                    reason=text(command.reason, "reason"),
                    moved_on=today,
                )
            ]
        if isinstance(command, RequestRenewal):
            return renewal.request_renewal(self, command, today, stamp, rules)
        if isinstance(command, DecideRenewal):
            return renewal.decide_renewal(self, command, today, stamp, rules)
        raise RuleConflict(f"{name} does not apply to a licence")

    def require_status(self, command: str, *statuses: str) -> None:
        if self.status not in statuses:
            raise RuleConflict(f"{command} is not allowed: the licence is {self.status}")

    def _issue(self, cmd: IssueLicence, stamp: Stamp, rules: LicenceRules) -> Event:
        decided_on = as_date(cmd.decided_on, "decided_on")
        valid_until = cmd.valid_until or default_valid_until(cmd.kind, decided_on, rules)
        items: tuple[dict, ...] = ()
        if cmd.kind == "operator_certificate":
            assert valid_until is not None  # an operator certificate always has an expiry
            items = tuple({"item": i, "valid_until": valid_until.isoformat()} for i in cmd.items)
        return LicenceIssued(
            **stamp,
            licence_no=text(cmd.licence_no, "licence_no"),
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

    # --- apply ---

    def apply(self, event: Event) -> None:
        """Fold one event into state. Never checks."""
        match event:
            case LicenceIssued():
                self.licence_no, self.kind, self.bureau = event.licence_no, event.kind, event.bureau
                self.supervised_by = event.bureau
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
            case LicenceTransferred():
                self.status, self.renewal = TRANSFERRED, None
                self.transferred_to = event.to_licence_no
            case SupervisionMoved():
                self.supervised_by = event.to_bureau
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
            "supervised_by": self.supervised_by,
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
            "transferred_to": self.transferred_to,
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
