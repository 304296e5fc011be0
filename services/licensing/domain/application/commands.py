"""Commands on an application (imperative; ``actor`` is who asks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from infra.domain import SYSTEM_ACTOR, Command

from .rules import DEFAULT_REMEDIES


@dataclass(frozen=True, kw_only=True)
class ApplicationCommand(Command):
    """Base of the commands on an application: ``by`` is who gives it as the timeline shows
    them (role, bureau or credit code, name: from the caller's token; None where only
    ``actor`` is known, as for the sweep). The events the command causes record it."""

    by: Mapping[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class ReceiveApplication(ApplicationCommand):
    application_id: str
    kind: str
    bureau: str
    applicant: Mapping[str, Any]
    location: Mapping[str, Any]
    subject: Mapping[str, Any]
    materials: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Accept(ApplicationCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class NotAccept(ApplicationCommand):
    reason: str
    remedies: str = DEFAULT_REMEDIES


@dataclass(frozen=True, kw_only=True)
class RequestCorrection(ApplicationCommand):
    # Any sequence of item names; a bare string is one too, and decide refuses it.
    items: Sequence[str]


@dataclass(frozen=True, kw_only=True)
class Supplement(ApplicationCommand):
    materials: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, kw_only=True)
class Review(ApplicationCommand):
    opinion: str


@dataclass(frozen=True, kw_only=True)
class SuspendClock(ApplicationCommand):
    reason: str
    notice_ref: str


@dataclass(frozen=True, kw_only=True)
class ResumeClock(ApplicationCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class Extend(ApplicationCommand):
    reason: str


@dataclass(frozen=True, kw_only=True)
class Approve(ApplicationCommand):
    """``valid_until``: the officer's, for the kinds whose validity an approval may set;
    ``term_ends_on``: the last day of the kind's statutory term from the decision (the licence
    rules', set by the service like ``licence_no``): the validity granted unless the officer
    sets a shorter one, and the latest one allowed (None: the kind has no validity)."""

    opinion: str
    licence_no: str | None = None
    valid_until: date | None = None
    term_ends_on: date | None = None


@dataclass(frozen=True, kw_only=True)
class Refuse(ApplicationCommand):
    reason: str
    legal_basis: str
    remedies: str = DEFAULT_REMEDIES


@dataclass(frozen=True, kw_only=True)
class OrderWorkStop(ApplicationCommand):
    """For a filed construction notice: the bureau orders the work to stop."""

    reason: str


@dataclass(frozen=True, kw_only=True)
class Withdraw(ApplicationCommand):
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class DeliverCertificate(ApplicationCommand):
    """The licence certificate was handed to the holder (``reference``: the delivery record)."""

    reference: str | None = None


@dataclass(frozen=True, kw_only=True)
class DeemAcceptance(ApplicationCommand):
    """Sent by the timer sweep; records deemed acceptance if it is due, else nothing."""

    actor: str = SYSTEM_ACTOR


@dataclass(frozen=True, kw_only=True)
class RecomputeDeadlines(ApplicationCommand):
    """Recompute open deadlines with the current calendar (e.g. a year's schedule arrived)."""

    actor: str = SYSTEM_ACTOR
