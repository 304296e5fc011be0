"""The ``Application`` aggregate: ``decide`` checks and returns events, ``apply`` folds."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..common import (
    SYSTEM_ACTOR,
    Calendar,
    Command,
    Deadline,
    Event,
    Invalid,
    RuleConflict,
    Stamp,
    _iso_date,
    _text,
    local_date,
)
from .commands import (
    Accept,
    Approve,
    DeemAcceptance,
    Extend,
    NotAccept,
    OrderWorkStop,
    ReceiveApplication,
    RecomputeDeadlines,
    Refuse,
    RequestCorrection,
    ResumeClock,
    Review,
    Supplement,
    SuspendClock,
    Withdraw,
)
from .events import (
    ApplicationAccepted,
    ApplicationApproved,
    ApplicationNotAccepted,
    ApplicationReceived,
    ApplicationRefused,
    ApplicationWithdrawn,
    ClockResumed,
    ClockSuspended,
    CorrectionRequested,
    DeadlinesRecomputed,
    DecisionExtended,
    DeemedAccepted,
    MaterialsSupplemented,
    ReviewRecorded,
    WorkStopOrdered,
)
from .intake import _check_receive, _materials
from .rules import (
    CERTIFICATE_WORKING_DAYS,
    DECISION_WORKING_DAYS,
    EXTENSION_WORKING_DAYS,
    INTAKE_WORKING_DAYS,
    ClockAlreadySuspended,
    ClockNotSuspended,
    CommandNotAllowed,
    CorrectionAlreadyRequested,
    ExtensionTooLate,
    IntakeWindowClosed,
    SecondExtensionRefused,
    Status,
)

# --- the aggregate --------------------------------------------------------------------------

# The kinds whose validity an approval may set (``valid_until``); the others have none.
KINDS_WITH_VALIDITY = frozenset({"production_licence", "pressure_piping_licence"})

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
                assert self.intake_due is not None  # deemed_acceptance_due checked it
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
        stamp: Stamp = {"at": now, "actor": cmd.actor}
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
                given = _text(cmd.reason, "reason", required=False)
                return [ApplicationWithdrawn(**stamp, reason=given, withdrawn_on=today)]
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
        # Only due while received (deemed_acceptance_due): receipt set both.
        assert accepted_on is not None and self.intake_due is not None
        due = calendar.add_working_days(accepted_on, DECISION_WORKING_DAYS)
        return DeemedAccepted(
            at=now,
            actor=SYSTEM_ACTOR,
            accepted_on=accepted_on,
            intake_due=self.intake_due.on,
            decision_due=due.date,
            provisional=due.provisional,
        )

    def _request_correction(self, cmd: RequestCorrection, today: date, stamp: Stamp) -> Event:
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
        # The decision period runs only once the application is accepted.
        assert self.accepted_on is not None
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

    def _extend(self, cmd: Extend, today: date, stamp: Stamp, calendar: Calendar) -> Event:
        if self.extended:
            raise SecondExtensionRefused()
        reason = _text(cmd.reason, "reason")
        # Extend is allowed only while accepted, and acceptance sets the decision deadline.
        assert self.decision_due is not None
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
            if self.kind not in KINDS_WITH_VALIDITY:
                # A use registration and a filing never expire; an operator's items are valid
                # a fixed term each (LicenceRules.operator_item_years).
                raise Invalid("valid_until", f"a {self.kind} has no validity to set")
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
            assert self.intake_started_on is not None  # set on receipt
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
            assert self.decided_on is not None  # set by the approval
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
