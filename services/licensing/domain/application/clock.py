"""The statutory clock of an application: deemed acceptance, the decision deadline with its
suspensions (``Suspension``) and one extension, the working days used, whether a decision is
late, and recomputing the open deadline once a year's holidays are known.

A period that has run out stays run out: a suspension that begins after the decision due date
stops nothing (resuming records no stopped days and keeps the due date), and such a period
cannot be extended.

Functions of an ``Application`` that return events without changing it; ``decide`` calls them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from infra.domain import SYSTEM_ACTOR, Command, Stamp, text

from ..common import Calendar, Deadline, Event
from .commands import Extend, SuspendClock
from .events import (
    ClockResumed,
    ClockSuspended,
    DeadlinesRecomputed,
    DecisionExtended,
    DeemedAccepted,
)
from .rules import (
    CERTIFICATE_WORKING_DAYS,
    DECISION_WORKING_DAYS,
    EXTENSION_WORKING_DAYS,
    INTAKE_WORKING_DAYS,
    ClockAlreadySuspended,
    ExtensionTooLate,
    SecondExtensionRefused,
)

if TYPE_CHECKING:
    from .aggregate import Application


@dataclass
class Suspension:
    """One stop of the decision clock. ``in_time``: it began while the period was still
    running (a suspension after the period ran out stops nothing); ``stopped_days``: the
    working days it stopped, once it has ended."""

    started_on: date
    reason: str
    notice_ref: str
    ended_on: date | None = None
    in_time: bool = True
    stopped_days: int = 0


def suspend(app: Application, cmd: SuspendClock, today: date, stamp: Stamp) -> Event:
    if app.suspended:
        raise ClockAlreadySuspended()
    return ClockSuspended(
        **stamp,
        reason=text(cmd.reason, "reason"),
        notice_ref=text(cmd.notice_ref, "notice_ref"),
        suspended_on=today,
    )


def working_days_used(app: Application, today: date, calendar: Calendar) -> int:
    """Working days of the decision period used by ``today``: the days each suspension
    stopped (a late one stopped none) do not count."""
    if app.accepted_on is None:
        return 0
    end = min(d for d in (today, app.decided_on, app.withdrawn_on) if d is not None)
    used = calendar.working_days_between(app.accepted_on, end).days
    for s in app.suspensions:
        if s.ended_on is not None:
            used -= s.stopped_days
        elif s.in_time and end > s.started_on:
            used -= calendar.working_days_between(s.started_on, end).days
    return max(used, 0)


def deemed(app: Application, now: datetime, calendar: Calendar) -> DeemedAccepted:
    accepted_on = app.intake_started_on
    # Only due while received (deemed_acceptance_due): receipt set both.
    assert accepted_on is not None and app.intake_due is not None
    due = calendar.add_working_days(accepted_on, DECISION_WORKING_DAYS)
    return DeemedAccepted(
        at=now,
        actor=SYSTEM_ACTOR,
        accepted_on=accepted_on,
        intake_due=app.intake_due.on,
        decision_due=due.date,
        provisional=due.provisional,
    )


def decision_due(app: Application, calendar: Calendar, extended: bool, suspended_days: int) -> Any:
    days = DECISION_WORKING_DAYS + (EXTENSION_WORKING_DAYS if extended else 0)
    # The decision period runs only once the application is accepted.
    assert app.accepted_on is not None
    return calendar.add_working_days(app.accepted_on, days + suspended_days)


def resume(app: Application, now: datetime, actor: str, today: date, calendar: Calendar) -> Event:
    suspension = app.suspensions[-1]
    # Resume is allowed only while accepted, and acceptance sets the decision deadline.
    assert app.decision_due is not None
    if not suspension.in_time:
        # The period had run out before the clock was stopped: nothing was stopped, and the
        # due date stays where it ran out (a late suspension never makes a late decision
        # timely).
        return ClockResumed(
            at=now,
            actor=actor,
            resumed_on=today,
            suspended_working_days=0,
            decision_due=app.decision_due.on,
            provisional=app.decision_due.provisional,
        )
    suspended = calendar.working_days_between(suspension.started_on, today).days
    due = decision_due(app, calendar, app.extended, app.suspended_working_days + suspended)
    return ClockResumed(
        at=now,
        actor=actor,
        resumed_on=today,
        suspended_working_days=suspended,
        decision_due=due.date,
        provisional=due.provisional,
    )


def resume_before_decision(
    app: Application, now: datetime, actor: str, today: date, calendar: Calendar
) -> list[Event]:
    """A decision ends a suspension: the suspension is closed first, on the same day."""
    return [resume(app, now, actor, today, calendar)] if app.suspended else []


def extend(app: Application, cmd: Extend, today: date, stamp: Stamp, calendar: Calendar) -> Event:
    if app.extended:
        raise SecondExtensionRefused()
    reason = text(cmd.reason, "reason")
    # Extend is allowed only while accepted, and acceptance sets the decision deadline.
    assert app.decision_due is not None
    # The law lets the head extend a period that has not run out ("在二十日内不能作出决定").
    # While the clock is stopped the period does not run out, unless it already had when the
    # clock was stopped.
    if app.suspended:
        suspension = app.suspensions[-1]
        if not suspension.in_time:
            raise ExtensionTooLate(app.decision_due.on, suspension.started_on)
    elif today > app.decision_due.on:
        raise ExtensionTooLate(app.decision_due.on)
    due = decision_due(app, calendar, True, app.suspended_working_days)
    return DecisionExtended(
        **stamp,
        reason=reason,
        extension_days=EXTENSION_WORKING_DAYS,
        decision_due=due.date,
        provisional=due.provisional,
    )


def late_by(app: Application, resumed: list[Event], today: date, calendar: Calendar) -> dict:
    """Whether a decision taken ``today`` is after the decision due date, and by how many
    working days (those after the due date up to and including today; at least 1: a decision
    on a rest day after the deadline is a day late). ``resumed``: the suspension a decision
    closes first, which may have moved the due date."""
    assert app.decision_due is not None  # a decision comes after acceptance
    due = app.decision_due.on
    for event in resumed:
        if isinstance(event, ClockResumed):
            due = event.decision_due
    if today <= due:
        return {"decided_late": False, "working_days_late": 0}
    days = calendar.working_days_between(due, today).days
    return {"decided_late": True, "working_days_late": max(days, 1)}


def recompute(app: Application, cmd: Command, now: datetime, calendar: Calendar) -> list[Event]:
    """Only the deadline the application is currently running against is open."""
    name = app.open_deadline
    if name == "intake_due":
        assert app.intake_started_on is not None  # set on receipt
        due = calendar.add_working_days(app.intake_started_on, INTAKE_WORKING_DAYS)
    elif name == "decision_due":
        due = decision_due(app, calendar, app.extended, app.suspended_working_days)
    elif name == "certificate_due":
        assert app.decided_on is not None  # set by the approval
        due = calendar.add_working_days(app.decided_on, CERTIFICATE_WORKING_DAYS)
    else:
        return []
    if getattr(app, name) == Deadline(due.date, due.provisional):
        return []
    values = {"intake_due": None, "decision_due": None, "certificate_due": None}
    values[name] = due.date
    return [DeadlinesRecomputed(at=now, actor=cmd.actor, **values, provisional=due.provisional)]
