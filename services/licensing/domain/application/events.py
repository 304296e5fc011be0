"""Events of an application: each records one fact of the procedure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from ..common import Event, shown_actor


@dataclass(frozen=True, kw_only=True)
class ApplicationEvent(Event):
    """Base of the application's events: ``actor`` (``role:token id``) is kept for audit;
    ``by`` is who acted as the timeline shows them (role, bureau or credit code, the token's
    name), recorded from the caller's token when the command came through the gateway."""

    by: dict | None = None

    def timeline_entry(self) -> dict[str, Any] | None:
        entry = super().timeline_entry()
        if entry is None:
            return None
        entry["actor"] = shown_actor(self.actor, self.by)
        if self.by:
            entry["by"] = dict(self.by)
        return entry


@dataclass(frozen=True, kw_only=True)
class ApplicationReceived(ApplicationEvent):
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
class ApplicationAccepted(ApplicationEvent):
    """The bureau accepted the application (受理) on ``accepted_on``; the decision clock starts."""

    accepted_on: date
    decision_due: date
    provisional: bool
    timeline_type: ClassVar[str] = "accepted"
    timeline_details: ClassVar[tuple[str, ...]] = ("decision_due",)


@dataclass(frozen=True, kw_only=True)
class DeemedAccepted(ApplicationEvent):
    """No intake outcome by ``intake_due``: by law the application counts as accepted from the
    day it was (completely) received, ``accepted_on``."""

    accepted_on: date
    intake_due: date
    decision_due: date
    provisional: bool
    timeline_type: ClassVar[str] = "deemed_accepted"
    timeline_details: ClassVar[tuple[str, ...]] = ("accepted_on", "decision_due")


@dataclass(frozen=True, kw_only=True)
class ApplicationNotAccepted(ApplicationEvent):
    """The bureau decided not to accept (不予受理), with the reason and the applicant's remedies."""

    reason: str
    remedies: str
    decided_on: date
    timeline_type: ClassVar[str] = "not_accepted"
    timeline_details: ClassVar[tuple[str, ...]] = ("remedies",)


@dataclass(frozen=True, kw_only=True)
class CorrectionRequested(ApplicationEvent):
    """The bureau told the applicant, at once, every item to correct or supply (一次性告知)."""

    items: tuple[str, ...]
    timeline_type: ClassVar[str] = "correction_requested"
    timeline_details: ClassVar[tuple[str, ...]] = ("items",)


@dataclass(frozen=True, kw_only=True)
class MaterialsSupplemented(ApplicationEvent):
    """The applicant supplied materials for the correction request. Once every requested item
    is answered a new intake period runs from ``supplemented_on`` to ``intake_due``; while
    ``open_items`` remain, the intake clock stays stopped (``intake_due`` is None)."""

    materials: tuple[dict, ...]
    supplemented_on: date
    intake_due: date | None
    provisional: bool
    open_items: tuple[str, ...] = ()
    timeline_type: ClassVar[str] = "supplemented"
    timeline_details: ClassVar[tuple[str, ...]] = ("materials", "intake_due", "open_items")


@dataclass(frozen=True, kw_only=True)
class ReviewRecorded(ApplicationEvent):
    """A review step: who (``actor``), which opinion (text) and when (``at``)."""

    opinion: str
    timeline_type: ClassVar[str] = "reviewed"


@dataclass(frozen=True, kw_only=True)
class ClockSuspended(ApplicationEvent):
    """The decision clock stopped from ``suspended_on`` for a hearing, testing, expert review or
    on-site evaluation, notified in writing under ``notice_ref``."""

    reason: str
    notice_ref: str
    suspended_on: date
    timeline_type: ClassVar[str] = "clock_suspended"
    timeline_details: ClassVar[tuple[str, ...]] = ("notice_ref",)


@dataclass(frozen=True, kw_only=True)
class ClockResumed(ApplicationEvent):
    """The decision clock runs again; ``suspended_working_days`` (those after the suspension
    day up to and including ``resumed_on``) moved the decision due date to ``decision_due``."""

    resumed_on: date
    suspended_working_days: int
    decision_due: date
    provisional: bool
    timeline_type: ClassVar[str] = "clock_resumed"
    timeline_details: ClassVar[tuple[str, ...]] = ("suspended_working_days", "decision_due")


@dataclass(frozen=True, kw_only=True)
class DecisionExtended(ApplicationEvent):
    """The bureau head extended the decision period (once, by ``extension_days``) and the
    applicant is told ``reason``."""

    reason: str
    extension_days: int
    decision_due: date
    provisional: bool
    timeline_type: ClassVar[str] = "extended"
    timeline_details: ClassVar[tuple[str, ...]] = ("decision_due",)


@dataclass(frozen=True, kw_only=True)
class ApplicationApproved(ApplicationEvent):
    """The licence was granted (准予许可) on ``decided_on``; the certificate is due by
    ``certificate_due`` (none for a construction notice, which is a filing)."""

    opinion: str
    licence_no: str | None
    valid_until: date | None
    decided_on: date
    certificate_due: date | None
    provisional: bool
    # After the decision due date: by how many working days (None: recorded before decisions
    # said so; the aggregate then reads lateness from the dates).
    decided_late: bool | None = None
    working_days_late: int | None = None
    timeline_type: ClassVar[str] = "approved"
    timeline_details: ClassVar[tuple[str, ...]] = (
        "licence_no", "valid_until", "certificate_due", "decided_late", "working_days_late",
    )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class ApplicationRefused(ApplicationEvent):
    """The licence was refused (不予许可) with reasons, legal basis and the applicant's remedies."""

    reason: str
    legal_basis: str
    remedies: str
    decided_on: date
    decided_late: bool | None = None  # as on ApplicationApproved
    working_days_late: int | None = None
    timeline_type: ClassVar[str] = "refused"
    timeline_details: ClassVar[tuple[str, ...]] = (
        "legal_basis", "remedies", "decided_late", "working_days_late",
    )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class WorkStopOrdered(ApplicationEvent):
    """The bureau ordered the filed construction work to stop (责令停止施工) for ``reason``."""

    reason: str
    ordered_on: date
    timeline_type: ClassVar[str] = "work_stop_ordered"


@dataclass(frozen=True, kw_only=True)
class CertificateDelivered(ApplicationEvent):
    """The bureau handed over the licence certificate (发证) on ``delivered_on``: the
    certificate deadline is met (or was missed, if later)."""

    delivered_on: date
    reference: str | None
    timeline_type: ClassVar[str] = "certificate_delivered"
    timeline_details: ClassVar[tuple[str, ...]] = ("reference", "delivered_on")


@dataclass(frozen=True, kw_only=True)
class ApplicationWithdrawn(ApplicationEvent):
    """The applicant withdrew the application before a decision."""

    reason: str | None
    withdrawn_on: date
    timeline_type: ClassVar[str] = "withdrawn"


@dataclass(frozen=True, kw_only=True)
class DeadlinesRecomputed(ApplicationEvent):
    """The open deadline was recomputed with a newer working-day calendar (a year's schedule
    was published): the timeline shows the new date next to the provisional one it replaces.
    A missing value means that deadline was not open."""

    intake_due: date | None
    decision_due: date | None
    certificate_due: date | None
    provisional: bool
    timeline_type: ClassVar[str] = "deadline_recomputed"
    timeline_details: ClassVar[tuple[str, ...]] = (
        "intake_due", "decision_due", "certificate_due", "provisional",
    )  # fmt: skip


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
        CertificateDelivered,
        DeadlinesRecomputed,
    )
}


def load_event(type_name: str, data: Mapping[str, Any]) -> Event:
    """Rebuild an event from its stored type name and data."""
    return EVENT_TYPES[type_name].from_data(data)
