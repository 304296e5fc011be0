"""Elevator safety liability insurance (电梯安全责任保险): the policy aggregate.

Pure: standard library and ``infra.domain`` only; time comes in as arguments.

A policy is keyed by insurer (credit code) and policy number and lives in the stream
``policy-<insurer>-<policy_no>``. Insurers push whole policies with their own revision number:
the same revision again changes nothing, an older one is stale (so is the same one with other
content), a newer one supersedes. "The same" compares canonical terms (``Terms.canonical``):
the order of the elevators and policyholders and how an amount is written ("0.3", "0.30")
say nothing. Time-driven rules: a reminder from ``REMINDER_DAYS`` days before the policy ends
(once per end date), and a lapse the day after it ends.

A quote (``Quote``, stream ``quote-<insurer>-<id>``) records that an insurer was asked to
quote elevators until a date: what lets it read their coverage and premium factors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import ClassVar

from infra.domain import (
    Aggregate,
    Command,
    Event,
    Invalid,
    RuleConflict,
    Stale,
    Stamp,
    event_types,
)

REMINDER_DAYS = 3  # reminders go out this many days before a policy ends
STREAM_PREFIX = "policy-"
QUOTE_PREFIX = "quote-"
# A quote opens elevators to an insurer for at most this long: long enough to price and sign
# a policy, short enough that reading a competitor's elevators stays a declared, passing need.
QUOTE_MAX_DAYS = 90


def policy_key(insurer: str, policy_no: str) -> str:
    """The key of a policy's stream (``policy-<key>``): insurer first, as numbers are per
    insurer."""
    return f"{insurer}-{policy_no}"


def split_key(key: str) -> tuple[str, str]:
    """``(insurer, policy_no)`` of a policy key (a credit code holds no ``-``)."""
    insurer, _, policy_no = key.partition("-")
    return insurer, policy_no


# --- amounts --------------------------------------------------------------------------------


def money_text(text: str) -> str:
    """Yuan with exactly two decimals ("5000000" -> "5000000.00"); text that is no amount
    comes back as it is (validation refuses it, and stored terms are never rewritten)."""
    try:
        return str(Decimal(text).quantize(Decimal("0.01")))
    except (InvalidOperation, TypeError, ValueError):
        return text


def share_text(text: str) -> str:
    """A share with at least two decimals and no trailing zero beyond them ("0.3" -> "0.30",
    "1" -> "1.00", "0.3330" -> "0.333")."""
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError, ValueError):
        return text
    if not value.is_finite():
        return text
    exponent = value.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return str(value.quantize(Decimal(1).scaleb(-places)))


# --- terms ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Policyholder:
    """A party to the policy and its share of the premium ("0.30")."""

    uscc: str
    name: str
    role: str  # owner | user | maintenance | inspection
    share: str


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Limits of liability in yuan ("1000000.00")."""

    per_accident: str
    per_person: str


@dataclass(frozen=True, kw_only=True)
class Terms:
    """What the insurer says one revision of the policy is, as validated at the edge.

    Money stays as the decimal text the insurer sent: a revision is the same one only if it
    says exactly the same."""

    policyholders: tuple[Policyholder, ...]
    equipment_codes: tuple[str, ...]
    cover: str  # liability | comprehensive
    limits: Limits
    premium: str
    starts_on: date
    ends_on: date
    status: str  # active | cancelled

    def canonical(self) -> Terms:
        """The same terms in one way of writing them: elevators and policyholders in sorted
        order, amounts as ``money_text`` and ``share_text`` write them. Two pushes say the
        same when their canonical terms are equal (terms stored before amounts were
        normalised at the edge compare right too)."""
        holders = sorted(
            (replace(h, share=share_text(h.share)) for h in self.policyholders),
            key=lambda h: (h.uscc, h.role, h.name, h.share),
        )
        return replace(
            self,
            policyholders=tuple(holders),
            equipment_codes=tuple(sorted(self.equipment_codes)),
            limits=Limits(
                per_accident=money_text(self.limits.per_accident),
                per_person=money_text(self.limits.per_person),
            ),
            premium=money_text(self.premium),
        )


# --- commands -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SyncPolicy(Command):
    """Record what an insurer pushed: ``revision`` of its policy ``policy_no`` says ``terms``."""

    insurer: str
    policy_no: str
    revision: int
    terms: Terms


@dataclass(frozen=True, kw_only=True)
class RemindPolicy(Command):
    """Send the ending-soon reminder if one is due on ``on`` (a business date)."""

    on: date


@dataclass(frozen=True, kw_only=True)
class LapsePolicy(Command):
    """Record that the policy lapsed if its period ended before ``on`` (a business date)."""

    on: date


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PolicyEnrolled(Event):
    """An insurer reported the policy for the first time: ``revision`` says ``terms``; cover
    starts for every elevator it names."""

    insurer: str
    policy_no: str
    revision: int
    terms: Terms


@dataclass(frozen=True, kw_only=True)
class PolicyRevised(Event):
    """A newer ``revision`` superseded the stored one; cover started for the elevators in
    ``added`` and ended for those in ``removed``."""

    revision: int
    terms: Terms
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PolicyCancelled(Event):
    """The insurer cancelled the policy with ``revision`` (status ``cancelled``): cover ended
    for every elevator of it."""

    revision: int
    terms: Terms


@dataclass(frozen=True, kw_only=True)
class PolicyEndingSoon(Event):
    """A reminder went out on ``reminded_on``: the policy ends on ``ends_on``, within
    ``REMINDER_DAYS`` days."""

    ends_on: date
    reminded_on: date


@dataclass(frozen=True, kw_only=True)
class PolicyLapsed(Event):
    """The policy's period ended on ``ends_on`` with no newer revision: cover ended for
    ``equipment_codes`` (the period itself stays covered)."""

    ends_on: date
    equipment_codes: tuple[str, ...]


EVENT_TYPES = event_types(
    PolicyEnrolled, PolicyRevised, PolicyCancelled, PolicyEndingSoon, PolicyLapsed
)


def outcome(events: Sequence[Event]) -> str:
    """What a sync did, in the API's words: ``created``, ``superseded`` or ``unchanged``."""
    if not events:
        return "unchanged"
    return "created" if isinstance(events[0], PolicyEnrolled) else "superseded"


# --- the aggregate --------------------------------------------------------------------------


@dataclass
class Policy(Aggregate):
    """One insurer's policy, folded from its events."""

    insurer: str = ""
    policy_no: str = ""
    revision: int = 0
    terms: Terms | None = None
    reminded_for: date | None = None  # the end date a reminder went out for
    lapsed: bool = False
    changed_at: datetime | None = None
    version: int = 0

    kind_name: ClassVar[str] = "policy"

    @property
    def status(self) -> str:
        """``active``, ``cancelled`` or ``lapsed`` (its period ended with no newer revision)."""
        if self.lapsed:
            return "lapsed"
        return self.terms.status if self.terms else "unknown"

    def running(self) -> bool:
        return self.terms is not None and self.terms.status == "active" and not self.lapsed

    def reminder_due(self, on: date) -> bool:
        """It ends within ``REMINDER_DAYS`` days of ``on`` and no reminder went out for that
        end date yet."""
        if self.terms is None or not self.running():
            return False
        ends = self.terms.ends_on
        return on <= ends <= on + timedelta(days=REMINDER_DAYS) and self.reminded_for != ends

    def lapse_due(self, on: date) -> bool:
        """Its period ended before ``on`` and no newer revision extended it."""
        return self.terms is not None and self.running() and on > self.terms.ends_on

    # --- decide -------------------------------------------------------------------------

    def decide(self, command: Command, now: datetime) -> list[Event]:
        stamp: Stamp = {"at": now, "actor": command.actor}
        match command:
            case SyncPolicy():
                return self._sync(command, stamp)
            case RemindPolicy():
                if self.terms is None or not self.reminder_due(command.on):
                    return []  # a time rule does what is due, and nothing else
                return [
                    PolicyEndingSoon(**stamp, ends_on=self.terms.ends_on, reminded_on=command.on)
                ]
            case LapsePolicy():
                if self.terms is None or not self.lapse_due(command.on):
                    return []
                return [
                    PolicyLapsed(
                        **stamp,
                        ends_on=self.terms.ends_on,
                        equipment_codes=self.terms.equipment_codes,
                    )
                ]
        raise RuleConflict(f"{type(command).__name__} does not apply to a policy")

    def _sync(self, command: SyncPolicy, stamp: Stamp) -> list[Event]:
        revision, terms = command.revision, command.terms
        if not self.exists:
            return [
                PolicyEnrolled(
                    **stamp,
                    insurer=command.insurer,
                    policy_no=command.policy_no,
                    revision=revision,
                    terms=terms,
                )
            ]
        if revision < self.revision:
            raise Stale(f"revision {revision} is older than the stored {self.revision}")
        if revision == self.revision:
            if self.terms is not None and terms.canonical() == self.terms.canonical():
                return []  # the same push again, however it lists or writes the same terms
            raise Stale(f"revision {revision} is already stored with other content")
        if terms.status == "cancelled":
            return [PolicyCancelled(**stamp, revision=revision, terms=terms)]
        old = set(self.terms.equipment_codes) if self.terms else set()
        new = set(terms.equipment_codes)
        return [
            PolicyRevised(
                **stamp,
                revision=revision,
                terms=terms,
                added=tuple(sorted(new - old)),
                removed=tuple(sorted(old - new)),
            )
        ]

    # --- apply (never checks) -----------------------------------------------------------

    def apply(self, event: Event) -> None:
        match event:
            case PolicyEnrolled():
                self.insurer, self.policy_no = event.insurer, event.policy_no
                self.revision, self.terms, self.lapsed = event.revision, event.terms, False
            case PolicyRevised() | PolicyCancelled():
                self.revision, self.terms, self.lapsed = event.revision, event.terms, False
            case PolicyEndingSoon():
                self.reminded_for = event.ends_on
            case PolicyLapsed():
                self.lapsed = True
        self.changed_at = event.at
        self.version += 1


# --- quotes ---------------------------------------------------------------------------------


def quote_key(insurer: str, quote_id: str) -> str:
    """The key of a quote's stream (``quote-<key>``)."""
    return f"{insurer}-{quote_id}"


@dataclass(frozen=True, kw_only=True)
class DeclareQuote(Command):
    """An insurer declares that it was asked to quote ``equipment_codes``, until
    ``valid_until`` (a business date); ``on`` is today's business date."""

    insurer: str
    quote_id: str
    equipment_codes: tuple[str, ...]
    valid_until: date
    on: date


@dataclass(frozen=True, kw_only=True)
class QuoteDeclared(Event):
    """An insurer declared on ``declared_on`` that it was asked to quote ``equipment_codes``:
    until ``valid_until`` it may read their coverage and premium factors."""

    insurer: str
    quote_id: str
    equipment_codes: tuple[str, ...]
    valid_until: date
    declared_on: date


@dataclass
class Quote(Aggregate):
    """A request for a quote an insurer declared, folded from its events."""

    insurer: str = ""
    quote_id: str = ""
    equipment_codes: tuple[str, ...] = ()
    valid_until: date | None = None
    declared_at: datetime | None = None
    version: int = 0

    kind_name: ClassVar[str] = "quote"

    def decide(self, command: Command, now: datetime) -> list[Event]:
        if not isinstance(command, DeclareQuote):
            raise RuleConflict(f"{type(command).__name__} does not apply to a quote")
        if self.exists:
            raise RuleConflict(f"quote {command.quote_id} is declared already")
        if command.valid_until < command.on:
            raise Invalid("valid_until", "must be today or later")
        if command.valid_until > command.on + timedelta(days=QUOTE_MAX_DAYS):
            raise Invalid("valid_until", f"must be at most {QUOTE_MAX_DAYS} days from today")
        return [
            QuoteDeclared(
                at=now,
                actor=command.actor,
                insurer=command.insurer,
                quote_id=command.quote_id,
                equipment_codes=command.equipment_codes,
                valid_until=command.valid_until,
                declared_on=command.on,
            )
        ]

    def apply(self, event: Event) -> None:
        if isinstance(event, QuoteDeclared):
            self.insurer, self.quote_id = event.insurer, event.quote_id
            self.equipment_codes, self.valid_until = event.equipment_codes, event.valid_until
            self.declared_at = event.at
        self.version += 1


QUOTE_EVENT_TYPES = event_types(QuoteDeclared)
