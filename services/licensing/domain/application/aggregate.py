"""The ``Application`` aggregate: ``decide`` checks and returns events, ``apply`` folds."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from infra.clock import local_date
from infra.domain import Command, Stamp, text

from ..common import Calendar, Deadline, Event
from . import clock, decisions
from .commands import (
    Accept,
    Approve,
    DeemAcceptance,
    DeliverCertificate,
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
    ApplicationEvent,
    ApplicationNotAccepted,
    ApplicationReceived,
    ApplicationRefused,
    ApplicationWithdrawn,
    CertificateDelivered,
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
from .rules import (
    DECISION_WORKING_DAYS,
    ClockNotSuspended,
    CommandNotAllowed,
    IntakeWindowClosed,
    Status,
)

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
    DeliverCertificate: frozenset({Status.APPROVED}),
}


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
    open_correction_items: tuple[str, ...] = ()  # requested, not answered by a supplement yet
    accepted_on: date | None = None
    deemed_accepted: bool = False
    extended: bool = False
    suspensions: list[clock.Suspension] = field(default_factory=list)
    suspended_working_days: int = 0
    decided_on: date | None = None
    decided_late: bool = False  # decided after the decision due date
    working_days_late: int | None = None  # None: undecided, or not recorded (older decisions)
    withdrawn_on: date | None = None
    work_stopped: bool = False
    licence_no: str | None = None
    valid_until: date | None = None
    intake_due: Deadline | None = None
    decision_due: Deadline | None = None
    certificate_due: Deadline | None = None
    certificate_delivered_on: date | None = None
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
    def open_deadline(self) -> str | None:
        """The deadline the application is running against (``intake_due``, ``decision_due``
        or ``certificate_due``); None while none runs (awaiting correction, decided, ...)."""
        if self.status == Status.RECEIVED and self.intake_due is not None:
            return "intake_due"
        if self.status == Status.ACCEPTED and self.decision_due is not None:
            return "decision_due"
        if self.certificate_pending:
            return "certificate_due"
        return None

    @property
    def provisional(self) -> bool:
        """Whether the open deadline was computed without an official schedule for its year.
        A closed deadline keeps the date it had (history), but no longer makes the
        application provisional: once the open one is recomputed, the flag clears."""
        name = self.open_deadline
        due = getattr(self, name) if name else None
        return due is not None and due.provisional

    def deemed_acceptance_due(self, today: date) -> bool:
        """True once the intake period has passed with no outcome: on the due day itself the
        bureau may still act; from the day after, the application counts as accepted."""
        return (
            self.status == Status.RECEIVED
            and self.intake_due is not None
            and today > self.intake_due.on
        )

    @property
    def certificate_pending(self) -> bool:
        """Approved with a certificate to hand over that has not been delivered yet."""
        return (
            self.status == Status.APPROVED
            and self.certificate_due is not None
            and self.certificate_delivered_on is None
        )

    def late_after(self) -> date | None:
        """The last day the bureau is in time for the deadline it is running against (None:
        not running against one). The read model stores it so lists can filter on it."""
        if self.status == Status.RECEIVED and self.intake_due is not None:
            return self.intake_due.on
        if self.certificate_pending:
            assert self.certificate_due is not None  # certificate_pending checked it
            return self.certificate_due.on
        if self.status != Status.ACCEPTED or self.decision_due is None:
            return None
        if self.suspended:
            # A stopped clock does not run late, unless it was already late when it stopped.
            started = self.suspensions[-1].started_on
            return self.decision_due.on if started > self.decision_due.on else None
        return self.decision_due.on

    def overdue(self, today: date) -> bool:
        """Whether the bureau has missed the deadline it is currently working against."""
        last = self.late_after()
        return last is not None and today > last

    def working_days_used(self, today: date, calendar: Calendar) -> int:
        """Working days of the decision period used by ``today``, suspended days excluded."""
        return clock.working_days_used(self, today, calendar)

    # --- decide ---

    def decide(self, command: Command, now: datetime, calendar: Calendar) -> list[Event]:
        """Check ``command`` against the rules and return the events it causes (none applied).

        If the intake period has already lapsed, deemed acceptance is recorded first, whoever
        notices it (the sweep or the next command). The events of the command's actor record
        who it is as the timeline shows them (the command's ``by``).
        """
        events = self._decide(command, now, calendar)
        by = getattr(command, "by", None)
        if not by:
            return events
        return [
            dataclasses.replace(e, by=dict(by))
            if isinstance(e, ApplicationEvent) and e.actor == command.actor
            else e
            for e in events
        ]

    def _decide(self, command: Command, now: datetime, calendar: Calendar) -> list[Event]:
        today = local_date(now)
        if isinstance(command, ReceiveApplication):
            if self.status is not None:
                raise CommandNotAllowed(type(command).__name__, self.status)
            return [decisions.receive(self, command, now, today, calendar)]
        if self.status is None:
            raise CommandNotAllowed(type(command).__name__, None)
        if isinstance(command, RecomputeDeadlines):
            return clock.recompute(self, command, now, calendar)
        if self.deemed_acceptance_due(today):
            if isinstance(command, NotAccept | RequestCorrection):
                assert self.intake_due is not None  # deemed_acceptance_due checked it
                raise IntakeWindowClosed(type(command).__name__, self.intake_due.on)
            deemed = clock.deemed(self, now, calendar)
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
                        reason=text(cmd.reason, "reason"),
                        remedies=text(cmd.remedies, "remedies"),
                        decided_on=today,
                    )
                ]
            case RequestCorrection():
                return [decisions.request_correction(self, cmd, today, stamp)]
            case Supplement():
                return [decisions.supplement(self, cmd, today, stamp, calendar)]
            case Review():
                return [ReviewRecorded(**stamp, opinion=text(cmd.opinion, "opinion"))]
            case SuspendClock():
                return [clock.suspend(self, cmd, today, stamp)]
            case ResumeClock():
                if not self.suspended:
                    raise ClockNotSuspended()
                return [clock.resume(self, now, cmd.actor, today, calendar)]
            case Extend():
                return [clock.extend(self, cmd, today, stamp, calendar)]
            case Approve():
                return decisions.approve(self, cmd, now, today, calendar)
            case Refuse():
                return decisions.refuse(self, cmd, now, today, calendar)
            case OrderWorkStop():
                return [decisions.order_work_stop(self, cmd, today, stamp)]
            case DeliverCertificate():
                return [decisions.deliver_certificate(self, cmd, today, stamp)]
            case Withdraw():
                given = text(cmd.reason, "reason", required=False)
                return [ApplicationWithdrawn(**stamp, reason=given, withdrawn_on=today)]
        raise CommandNotAllowed(name, self.status)

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
                self.open_correction_items = event.items
            case MaterialsSupplemented():
                self.materials.extend(dict(m) for m in event.materials)
                self.open_correction_items = event.open_items
                if event.intake_due is not None:  # every item answered: intake starts again
                    self.status = Status.RECEIVED
                    self.intake_started_on = event.supplemented_on
                    self.intake_due = Deadline(event.intake_due, event.provisional)
            case ClockSuspended():
                in_time = self.decision_due is None or event.suspended_on <= self.decision_due.on
                self.suspensions.append(
                    clock.Suspension(
                        event.suspended_on, event.reason, event.notice_ref, None, in_time
                    )
                )
            case ClockResumed():
                self.suspensions[-1].ended_on = event.resumed_on
                self.suspensions[-1].stopped_days = event.suspended_working_days
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
                self._decided(event)
            case ApplicationRefused():
                self.status, self.decided_on = Status.REFUSED, event.decided_on
                self._decided(event)
            case WorkStopOrdered():
                self.work_stopped = True
            case CertificateDelivered():
                self.certificate_delivered_on = event.delivered_on
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

    def _decided(self, event: ApplicationApproved | ApplicationRefused) -> None:
        """Whether the decision came after the decision due date; a decision recorded before
        decisions said so is read from its date (how many working days is then unknown)."""
        if event.decided_late is None:
            due = self.decision_due
            self.decided_late = due is not None and event.decided_on > due.on
            return
        self.decided_late = event.decided_late
        self.working_days_late = event.working_days_late
