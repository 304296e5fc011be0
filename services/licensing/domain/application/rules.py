"""The application's numbers, statuses and refusals."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum

from infra.domain import RuleConflict

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


class CommandNotAllowed(RuleConflict):
    def __init__(self, command: str, status: str | None):
        self.command, self.status = command, status
        where = f"the application is {status}" if status else "no application exists yet"
        super().__init__(f"{command} is not allowed: {where}")


class SecondExtensionRefused(RuleConflict):
    def __init__(self) -> None:
        super().__init__("the decision period has already been extended once")


class ExtensionTooLate(RuleConflict):
    """The decision period ran out (on ``decision_due``): there is nothing left to extend. A
    suspension that began after that day stopped no period (``suspended_on``)."""

    def __init__(self, decision_due: date, suspended_on: date | None = None):
        self.decision_due, self.suspended_on = decision_due, suspended_on
        why = f"the decision period ran out on {decision_due}"
        if suspended_on is not None:
            why += f", before the clock was suspended on {suspended_on}"
        super().__init__(
            f"{why}: a run-out period cannot be extended (an extension is decided by the due date)"
        )


class IntakeWindowClosed(RuleConflict):
    def __init__(self, command: str, intake_due: date):
        self.command, self.intake_due = command, intake_due
        super().__init__(
            f"{command} is not allowed: the intake period ended on {intake_due} and the "
            "application counts as accepted"
        )


class CorrectionAlreadyRequested(RuleConflict):
    def __init__(self) -> None:
        super().__init__("a correction was already requested: every item must be listed at once")


class ClockAlreadySuspended(RuleConflict):
    def __init__(self) -> None:
        super().__init__("the clock is already suspended")


class ClockNotSuspended(RuleConflict):
    def __init__(self) -> None:
        super().__init__("the clock is not suspended")
