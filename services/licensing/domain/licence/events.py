"""The facts of a licence's life, as stored in ``licence-<licence_no>`` and published."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from ..common import Event


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
class LicenceTransferred(Event):
    """The unit of this use registration passed to a new user (过户), whose certificate
    ``to_licence_no`` was issued on the approval of ``application_id``; this one is closed."""

    to_licence_no: str
    to_holder: dict
    application_id: str
    transferred_on: date
    timeline_type: ClassVar[str] = "transferred"
    timeline_details: ClassVar[tuple[str, ...]] = ("to_licence_no", "application_id")


@dataclass(frozen=True, kw_only=True)
class SupervisionMoved(Event):
    """The unit of this use registration was relocated to a place of another bureau:
    ``to_bureau`` supervises the unit and acts on this certificate from now on (the issuing
    ``bureau`` and the decision stay as they were)."""

    from_bureau: str
    to_bureau: str
    reason: str
    moved_on: date
    timeline_type: ClassVar[str] = "supervision_moved"
    timeline_details: ClassVar[tuple[str, ...]] = ("from_bureau", "to_bureau")


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
        LicenceTransferred,
        SupervisionMoved,
        LicenceExpired,
        OperatorItemReviewDue,
        OperatorItemInvalidated,
    )
}
