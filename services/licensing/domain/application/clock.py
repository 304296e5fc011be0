"""The statutory clock of an application: deemed acceptance, the decision deadline with its
suspensions and one extension, and recomputing a deadline once a year's holidays are known.

Functions of an ``Application`` that return events without changing it; ``decide`` calls them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from infra.domain import SYSTEM_ACTOR, Command, Stamp, text

from ..common import Calendar, Deadline, Event
from .commands import (
    Extend,
)
from .events import (
    ClockResumed,
    DeadlinesRecomputed,
    DecisionExtended,
    DeemedAccepted,
)
from .rules import (
    CERTIFICATE_WORKING_DAYS,
    DECISION_WORKING_DAYS,
    EXTENSION_WORKING_DAYS,
    INTAKE_WORKING_DAYS,
    ExtensionTooLate,
    SecondExtensionRefused,
    Status,
)

if TYPE_CHECKING:
    from .aggregate import Application


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
    started = app.suspensions[-1].started_on
    suspended = calendar.working_days_between(started, today).days
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
    if not app.suspended and today > app.decision_due.on:
        raise ExtensionTooLate(app.decision_due.on)
    due = decision_due(app, calendar, True, app.suspended_working_days)
    return DecisionExtended(
        **stamp,
        reason=reason,
        extension_days=EXTENSION_WORKING_DAYS,
        decision_due=due.date,
        provisional=due.provisional,
    )


def recompute(app: Application, cmd: Command, now: datetime, calendar: Calendar) -> list[Event]:
    """Only the deadline the application is currently running against is open."""
    if app.status == Status.RECEIVED:
        assert app.intake_started_on is not None  # set on receipt
        name, due = (
            "intake_due",
            calendar.add_working_days(app.intake_started_on, INTAKE_WORKING_DAYS),
        )
    elif app.status == Status.ACCEPTED:
        name, due = (
            "decision_due",
            decision_due(app, calendar, app.extended, app.suspended_working_days),
        )
    elif app.status == Status.APPROVED and app.certificate_due is not None:
        assert app.decided_on is not None  # set by the approval
        name, due = (
            "certificate_due",
            calendar.add_working_days(app.decided_on, CERTIFICATE_WORKING_DAYS),
        )
    else:
        return []
    if getattr(app, name) == Deadline(due.date, due.provisional):
        return []
    values = {"intake_due": None, "decision_due": None, "certificate_due": None}
    values[name] = due.date
    return [DeadlinesRecomputed(at=now, actor=cmd.actor, **values, provisional=due.provisional)]
