"""Commands on an application (imperative; ``actor`` is who asks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from infra.domain import SYSTEM_ACTOR, Command

from .rules import DEFAULT_REMEDIES


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
    # Any sequence of item names; a bare string is one too, and decide refuses it.
    items: Sequence[str]


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
class DeliverCertificate(Command):
    """The licence certificate was handed to the holder (``reference``: the delivery record)."""

    reference: str | None = None


@dataclass(frozen=True, kw_only=True)
class DeemAcceptance(Command):
    """Sent by the timer sweep; records deemed acceptance if it is due, else nothing."""

    actor: str = SYSTEM_ACTOR


@dataclass(frozen=True, kw_only=True)
class RecomputeDeadlines(Command):
    """Recompute open deadlines with the current calendar (e.g. a year's schedule arrived)."""

    actor: str = SYSTEM_ACTOR
