"""Applications for administrative licences (行政许可申请): commands, events, the aggregate.

Pure: standard library only, no I/O. Time (``now``), ids and the working-day calendar are
arguments. ``Application.decide`` checks the rules and returns events; ``Application.apply``
folds one event into state and never checks, so a replay runs only ``apply``.

The statutory clock (Administrative Licensing Law, DOMAIN.md), in working days, counted from the
day after the event:
- intake: an outcome (accept, not accept, request correction) within 5 days of receipt, else the
  application is *deemed accepted* from the day it was received;
- decision: 20 days after acceptance, once extended by 10; days while the clock is suspended
  (hearing, testing, expert review, on-site evaluation) do not count;
- certificate: 10 days after an approval.
Deadlines are computed when the fact that sets them is decided and recorded in that event, with
a ``provisional`` flag when the calendar had to guess a year; ``RecomputeDeadlines`` records new
values once the year's schedule is configured. While the clock is suspended, ``decision_due``
keeps its last value and ``clock_running`` is false; resuming records the moved date.

Dates are local dates in China Standard Time: an aware ``now`` is converted, a naive one is taken
as local time.

Personal data: event data keeps every personal field (resident ID number, person name, birth
date) under one top-level ``person`` key, and nowhere else, so the service layer can wrap each
value in ``infra.eventstore.crypto.Personal`` before appending. ``apply`` copies ``person`` as
it is, so an erased value (``"[erased]"``) replays without error.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from .common import (
    BUREAUS,
    CONSTRUCTION_WORK,
    DISTRICTS,
    ELEVATOR_LEVELS,
    KINDS,
    PUDONG,
    SCOPE_ACTIVITIES,
    SCOPE_CLASSES,
    SYSTEM_ACTOR,
    USE_REGISTRATION_REASONS,
    Calendar,
    Command,
    Deadline,
    Event,
    Invalid,
    LicensingError,
    RuleConflict,
    _encode,
    _iso_date,
    _mapping,
    _text,
    local_date,
)

# The application's errors keep their names; they are the shared licensing errors.
ApplicationError = LicensingError
ApplicationConflict = RuleConflict

INTAKE_WORKING_DAYS = 5
DECISION_WORKING_DAYS = 20
EXTENSION_WORKING_DAYS = 10
CERTIFICATE_WORKING_DAYS = 10

DEFAULT_REMEDIES = (
    "The applicant may apply for administrative reconsideration within 60 days of receiving "
    "this decision, or bring an administrative lawsuit within 6 months."
)


_SHA256 = re.compile(r"[0-9a-f]{64}")


class Status(StrEnum):
    RECEIVED = "received"
    AWAITING_CORRECTION = "awaiting_correction"
    ACCEPTED = "accepted"
    NOT_ACCEPTED = "not_accepted"
    APPROVED = "approved"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class CommandNotAllowed(ApplicationConflict):
    def __init__(self, command: str, status: str | None):
        self.command, self.status = command, status
        where = f"the application is {status}" if status else "no application exists yet"
        super().__init__(f"{command} is not allowed: {where}")


class SecondExtensionRefused(ApplicationConflict):
    def __init__(self) -> None:
        super().__init__("the decision period has already been extended once")


class ExtensionTooLate(ApplicationConflict):
    def __init__(self, decision_due: date):
        self.decision_due = decision_due
        super().__init__(f"an extension must be decided by the decision due date {decision_due}")


class IntakeWindowClosed(ApplicationConflict):
    def __init__(self, command: str, intake_due: date):
        self.command, self.intake_due = command, intake_due
        super().__init__(
            f"{command} is not allowed: the intake period ended on {intake_due} and the "
            "application counts as accepted"
        )


class CorrectionAlreadyRequested(ApplicationConflict):
    def __init__(self) -> None:
        super().__init__("a correction was already requested: every item must be listed at once")


class ClockAlreadySuspended(ApplicationConflict):
    def __init__(self) -> None:
        super().__init__("the clock is already suspended")


class ClockNotSuspended(ApplicationConflict):
    def __init__(self) -> None:
        super().__init__("the clock is not suspended")


@dataclass(frozen=True, kw_only=True)
class ReceiveApplication(Command):
    application_id: str
    kind: str
    bureau: str
    applicant: Mapping[str, Any]
    location: Mapping[str, Any]
    subject: Mapping[str, Any]
    materials: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Accept(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class NotAccept(Command):
    reason: str
    remedies: str = DEFAULT_REMEDIES


@dataclass(frozen=True, kw_only=True)
class RequestCorrection(Command):
    items: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Supplement(Command):
    materials: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, kw_only=True)
class Review(Command):
    opinion: str


@dataclass(frozen=True, kw_only=True)
class SuspendClock(Command):
    reason: str
    notice_ref: str


@dataclass(frozen=True, kw_only=True)
class ResumeClock(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class Extend(Command):
    reason: str


@dataclass(frozen=True, kw_only=True)
class Approve(Command):
    opinion: str
    licence_no: str | None = None
    valid_until: date | None = None


@dataclass(frozen=True, kw_only=True)
class Refuse(Command):
    reason: str
    legal_basis: str
    remedies: str = DEFAULT_REMEDIES


@dataclass(frozen=True, kw_only=True)
class OrderWorkStop(Command):
    """For a filed construction notice: the bureau orders the work to stop."""

    reason: str


@dataclass(frozen=True, kw_only=True)
class Withdraw(Command):
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class DeemAcceptance(Command):
    """Sent by the timer sweep; records deemed acceptance if it is due, else nothing."""

    actor: str = SYSTEM_ACTOR


@dataclass(frozen=True, kw_only=True)
class RecomputeDeadlines(Command):
    """Recompute open deadlines with the current calendar (e.g. a year's schedule arrived)."""

    actor: str = SYSTEM_ACTOR


@dataclass(frozen=True, kw_only=True)
class ApplicationReceived(Event):
    """An application was received (收到申请) and routed to ``bureau``; the intake clock starts.

    ``person`` holds all personal data (see module docstring); ``applicant`` and ``subject``
    hold none. ``intake_due`` is the last day for an intake outcome.
    """

    application_id: str
    kind: str
    bureau: str
    applicant: dict
    location: dict
    subject: dict
    materials: tuple[dict, ...]
    person: dict | None
    received_on: date
    intake_due: date
    provisional: bool
    timeline_type: ClassVar[str] = "received"
    timeline_details: ClassVar[tuple[str, ...]] = ("intake_due",)


@dataclass(frozen=True, kw_only=True)
class ApplicationAccepted(Event):
    """The bureau accepted the application (受理) on ``accepted_on``; the decision clock starts."""

    accepted_on: date
    decision_due: date
    provisional: bool
    timeline_type: ClassVar[str] = "accepted"
    timeline_details: ClassVar[tuple[str, ...]] = ("decision_due",)


@dataclass(frozen=True, kw_only=True)
class DeemedAccepted(Event):
    """No intake outcome by ``intake_due``: by law the application counts as accepted from the
    day it was (completely) received, ``accepted_on``."""

    accepted_on: date
    intake_due: date
    decision_due: date
    provisional: bool
    timeline_type: ClassVar[str] = "deemed_accepted"
    timeline_details: ClassVar[tuple[str, ...]] = ("accepted_on", "decision_due")


@dataclass(frozen=True, kw_only=True)
class ApplicationNotAccepted(Event):
    """The bureau decided not to accept (不予受理), with the reason and the applicant's remedies."""

    reason: str
    remedies: str
    decided_on: date
    timeline_type: ClassVar[str] = "not_accepted"
    timeline_details: ClassVar[tuple[str, ...]] = ("remedies",)


@dataclass(frozen=True, kw_only=True)
class CorrectionRequested(Event):
    """The bureau told the applicant, at once, every item to correct or supply (一次性告知)."""

    items: tuple[str, ...]
    timeline_type: ClassVar[str] = "correction_requested"
    timeline_details: ClassVar[tuple[str, ...]] = ("items",)


@dataclass(frozen=True, kw_only=True)
class MaterialsSupplemented(Event):
    """The applicant supplied the requested materials; a new intake period runs from
    ``supplemented_on`` to ``intake_due``."""

    materials: tuple[dict, ...]
    supplemented_on: date
    intake_due: date
    provisional: bool
    timeline_type: ClassVar[str] = "supplemented"
    timeline_details: ClassVar[tuple[str, ...]] = ("materials", "intake_due")


@dataclass(frozen=True, kw_only=True)
class ReviewRecorded(Event):
    """A review step: who (``actor``), which opinion (text) and when (``at``)."""

    opinion: str
    timeline_type: ClassVar[str] = "reviewed"


@dataclass(frozen=True, kw_only=True)
class ClockSuspended(Event):
    """The decision clock stopped from ``suspended_on`` for a hearing, testing, expert review or
    on-site evaluation, notified in writing under ``notice_ref``."""

    reason: str
    notice_ref: str
    suspended_on: date
    timeline_type: ClassVar[str] = "clock_suspended"
    timeline_details: ClassVar[tuple[str, ...]] = ("notice_ref",)


@dataclass(frozen=True, kw_only=True)
class ClockResumed(Event):
    """The decision clock runs again; ``suspended_working_days`` (those after the suspension
    day up to and including ``resumed_on``) moved the decision due date to ``decision_due``."""

    resumed_on: date
    suspended_working_days: int
    decision_due: date
    provisional: bool
    timeline_type: ClassVar[str] = "clock_resumed"
    timeline_details: ClassVar[tuple[str, ...]] = ("suspended_working_days", "decision_due")


@dataclass(frozen=True, kw_only=True)
class DecisionExtended(Event):
    """The bureau head extended the decision period (once, by ``extension_days``) and the
    applicant is told ``reason``."""

    reason: str
    extension_days: int
    decision_due: date
    provisional: bool
    timeline_type: ClassVar[str] = "extended"
    timeline_details: ClassVar[tuple[str, ...]] = ("decision_due",)


@dataclass(frozen=True, kw_only=True)
class ApplicationApproved(Event):
    """The licence was granted (准予许可) on ``decided_on``; the certificate is due by
    ``certificate_due`` (none for a construction notice, which is a filing)."""

    opinion: str
    licence_no: str | None
    valid_until: date | None
    decided_on: date
    certificate_due: date | None
    provisional: bool
    timeline_type: ClassVar[str] = "approved"
    timeline_details: ClassVar[tuple[str, ...]] = ("licence_no", "valid_until", "certificate_due")


@dataclass(frozen=True, kw_only=True)
class ApplicationRefused(Event):
    """The licence was refused (不予许可) with reasons, legal basis and the applicant's remedies."""

    reason: str
    legal_basis: str
    remedies: str
    decided_on: date
    timeline_type: ClassVar[str] = "refused"
    timeline_details: ClassVar[tuple[str, ...]] = ("legal_basis", "remedies")


@dataclass(frozen=True, kw_only=True)
class WorkStopOrdered(Event):
    """The bureau ordered the filed construction work to stop (责令停止施工) for ``reason``."""

    reason: str
    ordered_on: date
    timeline_type: ClassVar[str] = "work_stop_ordered"


@dataclass(frozen=True, kw_only=True)
class ApplicationWithdrawn(Event):
    """The applicant withdrew the application before a decision."""

    reason: str | None
    withdrawn_on: date
    timeline_type: ClassVar[str] = "withdrawn"


@dataclass(frozen=True, kw_only=True)
class DeadlinesRecomputed(Event):
    """Open deadlines were recomputed with a newer working-day calendar (not a procedural step:
    no timeline entry). A missing value means that deadline was not open."""

    intake_due: date | None
    decision_due: date | None
    certificate_due: date | None
    provisional: bool


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        ApplicationReceived,
        ApplicationAccepted,
        DeemedAccepted,
        ApplicationNotAccepted,
        CorrectionRequested,
        MaterialsSupplemented,
        ReviewRecorded,
        ClockSuspended,
        ClockResumed,
        DecisionExtended,
        ApplicationApproved,
        ApplicationRefused,
        ApplicationWithdrawn,
        WorkStopOrdered,
        DeadlinesRecomputed,
    )
}


def load_event(type_name: str, data: Mapping[str, Any]) -> Event:
    """Rebuild an event from its stored type name and data."""
    return EVENT_TYPES[type_name].from_data(data)


# --- validation of ReceiveApplication -------------------------------------------------------


def _materials(values: Iterable[Any], path: str) -> tuple[dict, ...]:
    result = []
    for i, item in enumerate(values):
        item = _mapping(item, f"{path}.{i}")
        sha = item.get("sha256")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha.lower()):
            raise Invalid(f"{path}.{i}.sha256", "must be 64 hexadecimal characters")
        result.append(
            {
                **_encode(item),
                "name": _text(item.get("name"), f"{path}.{i}.name"),
                "sha256": sha.lower(),
            }
        )
    return tuple(result)


def _split_person(kind: str, applicant: Mapping, subject: dict) -> tuple[dict, dict | None]:
    """The applicant without personal data, and the one natural person of the application."""
    name = _text(applicant.get("name"), "applicant.name")
    uscc, id_number = applicant.get("uscc"), applicant.get("id_number")
    if (uscc is None) == (id_number is None):
        raise Invalid("applicant", "give either uscc (an organization) or id_number (a person)")
    person = None
    if id_number is not None:
        person = {"id_number": _text(id_number, "applicant.id_number").upper(), "name": name}
    if kind == "operator_certificate":
        named = _mapping(subject.pop("person", None), "subject.person")
        operator = {
            "id_number": _text(named.get("id_number"), "subject.person.id_number").upper(),
            "name": _text(named.get("name"), "subject.person.name"),
            "born_on": _iso_date(named.get("born_on"), "subject.person.born_on"),
        }
        # One data subject per application: a person applies only for their own certificate
        # (an employer applies with its uscc).
        if person is not None and person["id_number"] != operator["id_number"]:
            raise Invalid("applicant.id_number", "a person may apply only for themselves")
        person = operator
    elif "person" in subject:
        raise Invalid("subject.person", "only an operator certificate names a person")
    if id_number is not None:
        return {"type": "person"}, person
    organization = {"type": "organization", "uscc": _text(uscc, "applicant.uscc").upper()}
    return {**organization, "name": name}, person


def _check_subject(kind: str, subject: dict) -> None:
    def need(key: str) -> Any:
        if subject.get(key) in (None, "", [], {}):
            raise Invalid(f"subject.{key}", "is required")
        return subject[key]

    if kind == "use_registration":
        _text(need("equipment_code"), "subject.equipment_code")
        if need("reason") not in USE_REGISTRATION_REASONS:
            raise Invalid("subject.reason", f"must be one of {', '.join(USE_REGISTRATION_REASONS)}")
        equipment = _mapping(need("equipment"), "subject.equipment")
        for key in ("variety", "product_name", "model", "maker"):
            _text(equipment.get(key), f"subject.equipment.{key}")
        equipment["manufactured_on"] = _iso_date(
            equipment.get("manufactured_on"), "subject.equipment.manufactured_on"
        )
    elif kind == "operator_certificate":
        items = need("items")
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise Invalid("subject.items", "must be a list of work item codes")
        subject["exam_passed_on"] = _iso_date(need("exam_passed_on"), "subject.exam_passed_on")
    elif kind == "construction_notice":
        _text(need("equipment_code"), "subject.equipment_code")
        if need("work") not in CONSTRUCTION_WORK:
            raise Invalid("subject.work", f"must be one of {', '.join(CONSTRUCTION_WORK)}")
        _text(need("installer_uscc"), "subject.installer_uscc")
        subject["starts_on"] = _iso_date(need("starts_on"), "subject.starts_on")
    else:
        scope = need("scope")
        if not isinstance(scope, list):
            raise Invalid("subject.scope", "must be a list of <class>:<activity>")
        for i, item in enumerate(scope):
            cls, _, activity = str(item).partition(":")
            if cls not in SCOPE_CLASSES or activity not in SCOPE_ACTIVITIES:
                raise Invalid(f"subject.scope.{i}", "must be <class>:<activity> from the lists")
            if kind == "pressure_piping_licence" and cls != "pressure_piping":
                raise Invalid(f"subject.scope.{i}", "a pressure-piping licence covers piping only")
        if subject.get("level") is not None and subject["level"] not in ELEVATOR_LEVELS:
            raise Invalid("subject.level", "must be A1, A2 or B")


def _check_receive(cmd: ReceiveApplication) -> dict[str, Any]:
    """Validated, JSON-able payload of ApplicationReceived (without dates and deadlines)."""
    if cmd.kind not in KINDS:
        raise Invalid("kind", f"must be one of {', '.join(KINDS)}")
    if cmd.bureau not in BUREAUS:
        raise Invalid("bureau", "unknown bureau")
    _text(cmd.application_id, "id")
    location = _encode(_mapping(cmd.location, "location"))
    if location.get("district") not in DISTRICTS:
        raise Invalid("location.district", "must be a Shanghai district code (GB/T 2260)")
    location["in_ftz"] = bool(location.get("in_ftz", False))
    if location["in_ftz"] and location["district"] != PUDONG:
        raise Invalid("location.in_ftz", "the Free Trade Zone lies inside Pudong (310115)")
    subject = _encode(_mapping(cmd.subject, "subject"))
    applicant, person = _split_person(cmd.kind, _mapping(cmd.applicant, "applicant"), subject)
    _check_subject(cmd.kind, subject)
    return {
        "application_id": cmd.application_id,
        "kind": cmd.kind,
        "bureau": cmd.bureau,
        "applicant": applicant,
        "location": location,
        "subject": subject,
        "materials": _materials(cmd.materials, "materials"),
        "person": person,
    }


# --- the aggregate --------------------------------------------------------------------------

# Which statuses allow which command; DeemAcceptance and RecomputeDeadlines are always accepted
# (they are no-ops where nothing is due).
ALLOWED: dict[type[Command], frozenset[Status]] = {
    Accept: frozenset({Status.RECEIVED}),
    NotAccept: frozenset({Status.RECEIVED, Status.AWAITING_CORRECTION}),
    RequestCorrection: frozenset({Status.RECEIVED}),
    Supplement: frozenset({Status.AWAITING_CORRECTION}),
    Review: frozenset({Status.ACCEPTED}),
    SuspendClock: frozenset({Status.ACCEPTED}),
    ResumeClock: frozenset({Status.ACCEPTED}),
    Extend: frozenset({Status.ACCEPTED}),
    Approve: frozenset({Status.ACCEPTED}),
    Refuse: frozenset({Status.ACCEPTED}),
    Withdraw: frozenset({Status.RECEIVED, Status.AWAITING_CORRECTION, Status.ACCEPTED}),
    OrderWorkStop: frozenset({Status.APPROVED}),
}


@dataclass
class Suspension:
    started_on: date
    reason: str
    notice_ref: str
    ended_on: date | None = None


@dataclass
class Application:
    """State of one application, folded from its events."""

    id: str | None = None
    kind: str | None = None
    bureau: str | None = None
    status: Status | None = None
    applicant_data: dict = field(default_factory=dict)
    person: dict | None = None
    location: dict = field(default_factory=dict)
    subject_data: dict = field(default_factory=dict)
    materials: list[dict] = field(default_factory=list)
    received_on: date | None = None
    intake_started_on: date | None = None  # receipt, or the day the correction was supplied
    correction_items: tuple[str, ...] = ()
    accepted_on: date | None = None
    deemed_accepted: bool = False
    extended: bool = False
    suspensions: list[Suspension] = field(default_factory=list)
    suspended_working_days: int = 0
    decided_on: date | None = None
    withdrawn_on: date | None = None
    work_stopped: bool = False
    licence_no: str | None = None
    valid_until: date | None = None
    intake_due: Deadline | None = None
    decision_due: Deadline | None = None
    certificate_due: Deadline | None = None
    timeline: list[dict] = field(default_factory=list)
    version: int = 0

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> Application:
        """Rebuild state by ``apply`` only."""
        application = cls()
        for event in events:
            application.apply(event)
        return application

    # --- views ---

    @property
    def applicant(self) -> dict:
        """The applicant as the API shows it (personal fields from ``person``)."""
        if self.applicant_data.get("type") == "person" and self.person:
            return {"id_number": self.person.get("id_number"), "name": self.person.get("name")}
        return {k: v for k, v in self.applicant_data.items() if k != "type"}

    @property
    def subject(self) -> dict:
        if self.kind == "operator_certificate" and self.person is not None:
            return {**self.subject_data, "person": dict(self.person)}
        return dict(self.subject_data)

    @property
    def suspended(self) -> bool:
        return bool(self.suspensions) and self.suspensions[-1].ended_on is None

    @property
    def clock_running(self) -> bool:
        return self.status == Status.ACCEPTED and not self.suspended

    @property
    def deadlines(self) -> dict[str, str | None]:
        return {
            name: due.on.isoformat() if due else None
            for name, due in (
                ("intake_due", self.intake_due),
                ("decision_due", self.decision_due),
                ("certificate_due", self.certificate_due),
            )
        }

    @property
    def provisional(self) -> bool:
        """Whether a shown deadline was computed without an official schedule for its year."""
        return any(
            d is not None and d.provisional
            for d in (self.intake_due, self.decision_due, self.certificate_due)
        )

    def deemed_acceptance_due(self, today: date) -> bool:
        """True once the intake period has passed with no outcome: on the due day itself the
        bureau may still act; from the day after, the application counts as accepted."""
        return (
            self.status == Status.RECEIVED
            and self.intake_due is not None
            and today > self.intake_due.on
        )

    def overdue(self, today: date) -> bool:
        """Whether the bureau has missed the deadline it is currently working against."""
        if self.deemed_acceptance_due(today):
            return True
        if self.status != Status.ACCEPTED or self.decision_due is None:
            return False
        if self.suspended:
            # A stopped clock does not run late, unless it was already late when it stopped.
            return self.suspensions[-1].started_on > self.decision_due.on
        return today > self.decision_due.on

    def working_days_used(self, today: date, calendar: Calendar) -> int:
        """Working days of the decision period used by ``today``, suspended days excluded."""
        if self.accepted_on is None:
            return 0
        end = min(d for d in (today, self.decided_on, self.withdrawn_on) if d is not None)
        used = calendar.working_days_between(self.accepted_on, end).days
        for s in self.suspensions:
            stop = min(s.ended_on or end, end)
            if stop > s.started_on:
                used -= calendar.working_days_between(s.started_on, stop).days
        return max(used, 0)

    # --- decide ---

    def decide(self, command: Command, now: datetime, calendar: Calendar) -> list[Event]:
        """Check ``command`` against the rules and return the events it causes (none applied).

        If the intake period has already lapsed, deemed acceptance is recorded first, whoever
        notices it (the sweep or the next command).
        """
        today = local_date(now)
        if isinstance(command, ReceiveApplication):
            if self.status is not None:
                raise CommandNotAllowed(type(command).__name__, self.status)
            return [self._receive(command, now, today, calendar)]
        if self.status is None:
            raise CommandNotAllowed(type(command).__name__, None)
        if isinstance(command, RecomputeDeadlines):
            return self._recompute(command, now, calendar)
        if self.deemed_acceptance_due(today):
            if isinstance(command, NotAccept | RequestCorrection):
                raise IntakeWindowClosed(type(command).__name__, self.intake_due.on)
            deemed = self._deemed(now, calendar)
            if isinstance(command, DeemAcceptance | Accept):
                # A late accept asks for what the law already says happened on receipt.
                return [deemed]
            after = copy.deepcopy(self)
            after.apply(deemed)
            return [deemed, *after._decide_now(command, now, today, calendar)]
        if isinstance(command, DeemAcceptance):
            return []
        return self._decide_now(command, now, today, calendar)

    def _decide_now(
        self, cmd: Command, now: datetime, today: date, calendar: Calendar
    ) -> list[Event]:
        name = type(cmd).__name__
        if self.status not in ALLOWED.get(type(cmd), ()):
            raise CommandNotAllowed(name, self.status)
        stamp = {"at": now, "actor": cmd.actor}
        match cmd:
            case Accept():
                due = calendar.add_working_days(today, DECISION_WORKING_DAYS)
                return [
                    ApplicationAccepted(
                        **stamp,
                        accepted_on=today,
                        decision_due=due.date,
                        provisional=due.provisional,
                    )
                ]
            case NotAccept():
                return [
                    ApplicationNotAccepted(
                        **stamp,
                        reason=_text(cmd.reason, "reason"),
                        remedies=_text(cmd.remedies, "remedies"),
                        decided_on=today,
                    )
                ]
            case RequestCorrection():
                return [self._request_correction(cmd, today, stamp)]
            case Supplement():
                materials = _materials(cmd.materials, "materials")
                if not materials:
                    raise Invalid("materials", "supply at least one document")
                due = calendar.add_working_days(today, INTAKE_WORKING_DAYS)
                return [
                    MaterialsSupplemented(
                        **stamp,
                        materials=materials,
                        supplemented_on=today,
                        intake_due=due.date,
                        provisional=due.provisional,
                    )
                ]
            case Review():
                return [ReviewRecorded(**stamp, opinion=_text(cmd.opinion, "opinion"))]
            case SuspendClock():
                if self.suspended:
                    raise ClockAlreadySuspended()
                return [
                    ClockSuspended(
                        **stamp,
                        reason=_text(cmd.reason, "reason"),
                        notice_ref=_text(cmd.notice_ref, "notice_ref"),
                        suspended_on=today,
                    )
                ]
            case ResumeClock():
                if not self.suspended:
                    raise ClockNotSuspended()
                return [self._resume(now, cmd.actor, today, calendar)]
            case Extend():
                return [self._extend(cmd, today, stamp, calendar)]
            case Approve():
                return self._approve(cmd, now, today, calendar)
            case Refuse():
                reason, basis = _text(cmd.reason, "reason"), _text(cmd.legal_basis, "legal_basis")
                return [
                    *self._resume_before_decision(now, cmd.actor, today, calendar),
                    ApplicationRefused(
                        **stamp,
                        reason=reason,
                        legal_basis=basis,
                        remedies=_text(cmd.remedies, "remedies"),
                        decided_on=today,
                    ),
                ]
            case OrderWorkStop():
                if self.kind != "construction_notice":
                    raise RuleConflict("only a filed construction notice can be stopped")
                if self.work_stopped:
                    raise RuleConflict("the work was already ordered to stop")
                return [
                    WorkStopOrdered(**stamp, reason=_text(cmd.reason, "reason"), ordered_on=today)
                ]
            case Withdraw():
                reason = _text(cmd.reason, "reason", required=False)
                return [ApplicationWithdrawn(**stamp, reason=reason, withdrawn_on=today)]
        raise CommandNotAllowed(name, self.status)

    def _receive(
        self, cmd: ReceiveApplication, now: datetime, today: date, calendar: Calendar
    ) -> Event:
        payload = _check_receive(cmd)
        due = calendar.add_working_days(today, INTAKE_WORKING_DAYS)
        return ApplicationReceived(
            at=now,
            actor=cmd.actor,
            **payload,
            received_on=today,
            intake_due=due.date,
            provisional=due.provisional,
        )

    def _deemed(self, now: datetime, calendar: Calendar) -> DeemedAccepted:
        accepted_on = self.intake_started_on
        due = calendar.add_working_days(accepted_on, DECISION_WORKING_DAYS)
        return DeemedAccepted(
            at=now,
            actor=SYSTEM_ACTOR,
            accepted_on=accepted_on,
            intake_due=self.intake_due.on,
            decision_due=due.date,
            provisional=due.provisional,
        )

    def _request_correction(self, cmd: RequestCorrection, today: date, stamp: dict) -> Event:
        if self.correction_items:
            raise CorrectionAlreadyRequested()
        if isinstance(cmd.items, str) or not cmd.items:
            raise Invalid("items", "list every missing or incorrect item")
        items = tuple(_text(item, f"items.{i}") for i, item in enumerate(cmd.items))
        if len(set(items)) != len(items):
            raise Invalid("items", "an item is listed twice")
        return CorrectionRequested(**stamp, items=items)

    def _decision_due(self, calendar: Calendar, extended: bool, suspended_days: int) -> Any:
        days = DECISION_WORKING_DAYS + (EXTENSION_WORKING_DAYS if extended else 0)
        return calendar.add_working_days(self.accepted_on, days + suspended_days)

    def _resume(self, now: datetime, actor: str, today: date, calendar: Calendar) -> Event:
        started = self.suspensions[-1].started_on
        suspended = calendar.working_days_between(started, today).days
        due = self._decision_due(calendar, self.extended, self.suspended_working_days + suspended)
        return ClockResumed(
            at=now,
            actor=actor,
            resumed_on=today,
            suspended_working_days=suspended,
            decision_due=due.date,
            provisional=due.provisional,
        )

    def _resume_before_decision(
        self, now: datetime, actor: str, today: date, calendar: Calendar
    ) -> list[Event]:
        """A decision ends a suspension: the suspension is closed first, on the same day."""
        return [self._resume(now, actor, today, calendar)] if self.suspended else []

    def _extend(self, cmd: Extend, today: date, stamp: dict, calendar: Calendar) -> Event:
        if self.extended:
            raise SecondExtensionRefused()
        reason = _text(cmd.reason, "reason")
        # The law lets the head extend a period that has not run out ("在二十日内不能作出决定").
        if not self.suspended and today > self.decision_due.on:
            raise ExtensionTooLate(self.decision_due.on)
        due = self._decision_due(calendar, True, self.suspended_working_days)
        return DecisionExtended(
            **stamp,
            reason=reason,
            extension_days=EXTENSION_WORKING_DAYS,
            decision_due=due.date,
            provisional=due.provisional,
        )

    def _approve(self, cmd: Approve, now: datetime, today: date, calendar: Calendar) -> list[Event]:
        opinion = _text(cmd.opinion, "opinion")
        licence_no = _text(cmd.licence_no, "licence_no", required=False)
        valid_until = None
        if cmd.valid_until is not None:
            valid_until = date.fromisoformat(_iso_date(cmd.valid_until, "valid_until"))
            if valid_until <= today:
                raise Invalid("valid_until", "must be after the decision date")
        certificate_due, provisional = None, False
        if self.kind != "construction_notice":
            due = calendar.add_working_days(today, CERTIFICATE_WORKING_DAYS)
            certificate_due, provisional = due.date, due.provisional
        return [
            *self._resume_before_decision(now, cmd.actor, today, calendar),
            ApplicationApproved(
                at=now,
                actor=cmd.actor,
                opinion=opinion,
                licence_no=licence_no,
                valid_until=valid_until,
                decided_on=today,
                certificate_due=certificate_due,
                provisional=provisional,
            ),
        ]

    def _recompute(self, cmd: Command, now: datetime, calendar: Calendar) -> list[Event]:
        """Only the deadline the application is currently running against is open."""
        if self.status == Status.RECEIVED:
            name, due = (
                "intake_due",
                calendar.add_working_days(self.intake_started_on, INTAKE_WORKING_DAYS),
            )
        elif self.status == Status.ACCEPTED:
            name, due = (
                "decision_due",
                self._decision_due(calendar, self.extended, self.suspended_working_days),
            )
        elif self.status == Status.APPROVED and self.certificate_due is not None:
            name, due = (
                "certificate_due",
                calendar.add_working_days(self.decided_on, CERTIFICATE_WORKING_DAYS),
            )
        else:
            return []
        if getattr(self, name) == Deadline(due.date, due.provisional):
            return []
        values = {"intake_due": None, "decision_due": None, "certificate_due": None}
        values[name] = due.date
        return [DeadlinesRecomputed(at=now, actor=cmd.actor, **values, provisional=due.provisional)]

    # --- apply ---

    def apply(self, event: Event) -> None:
        """Fold one event into state. Never checks: events are facts."""
        match event:
            case ApplicationReceived():
                self.id, self.kind, self.bureau = event.application_id, event.kind, event.bureau
                self.status = Status.RECEIVED
                self.applicant_data = dict(event.applicant)
                self.person = dict(event.person) if event.person is not None else None
                self.location, self.subject_data = dict(event.location), dict(event.subject)
                self.materials = [dict(m) for m in event.materials]
                self.received_on = self.intake_started_on = event.received_on
                self.intake_due = Deadline(event.intake_due, event.provisional)
            case ApplicationAccepted() | DeemedAccepted():
                self.status = Status.ACCEPTED
                self.accepted_on = event.accepted_on
                self.deemed_accepted = isinstance(event, DeemedAccepted)
                self.decision_due = Deadline(event.decision_due, event.provisional)
            case ApplicationNotAccepted():
                self.status, self.decided_on = Status.NOT_ACCEPTED, event.decided_on
            case CorrectionRequested():
                self.status, self.correction_items = Status.AWAITING_CORRECTION, event.items
            case MaterialsSupplemented():
                self.status = Status.RECEIVED
                self.materials.extend(dict(m) for m in event.materials)
                self.intake_started_on = event.supplemented_on
                self.intake_due = Deadline(event.intake_due, event.provisional)
            case ClockSuspended():
                self.suspensions.append(
                    Suspension(event.suspended_on, event.reason, event.notice_ref)
                )
            case ClockResumed():
                self.suspensions[-1].ended_on = event.resumed_on
                self.suspended_working_days += event.suspended_working_days
                self.decision_due = Deadline(event.decision_due, event.provisional)
            case DecisionExtended():
                self.extended = True
                self.decision_due = Deadline(event.decision_due, event.provisional)
            case ApplicationApproved():
                self.status, self.decided_on = Status.APPROVED, event.decided_on
                self.licence_no, self.valid_until = event.licence_no, event.valid_until
                if event.certificate_due is not None:
                    self.certificate_due = Deadline(event.certificate_due, event.provisional)
            case ApplicationRefused():
                self.status, self.decided_on = Status.REFUSED, event.decided_on
            case WorkStopOrdered():
                self.work_stopped = True
            case ApplicationWithdrawn():
                self.status, self.withdrawn_on = Status.WITHDRAWN, event.withdrawn_on
            case DeadlinesRecomputed():
                for name in ("intake_due", "decision_due", "certificate_due"):
                    if getattr(event, name) is not None:
                        setattr(self, name, Deadline(getattr(event, name), event.provisional))
        entry = event.timeline_entry()
        if entry is not None:
            self.timeline.append(entry)
        self.version += 1
