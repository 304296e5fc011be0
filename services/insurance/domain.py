"""Elevator safety liability insurance: the policy aggregate (pure: no I/O, time passed in).

A policy is keyed by insurer (credit code) and policy number and lives in the stream
``policy-<insurer>-<policy_no>``. Insurers push whole policies with their own revision number:
the same revision again changes nothing, an older one is stale, a newer one supersedes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

REMINDER_DAYS = 3  # reminders go out this many days before a policy ends
# ``json.dumps(..., sort_keys=True, separators=(",", ":"))``, its encoder built once.
_DIGEST_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


class PolicyError(Exception):
    """Base of the insurance domain's refusals."""


class StaleRevision(PolicyError):
    """The pushed revision is older than the stored one (or reuses it with other content)."""


@dataclass(frozen=True)
class Terms:
    """What the insurer says the policy is, as validated at the edge (JSON-able values)."""

    policyholders: tuple[dict, ...]
    equipment_codes: tuple[str, ...]
    cover: str
    limits: dict
    premium: str
    starts_on: str
    ends_on: str
    status: str

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Terms:
        return cls(
            policyholders=tuple(dict(p) for p in d["policyholders"]),
            equipment_codes=tuple(d["equipment_codes"]),
            cover=d["cover"],
            limits=dict(d["limits"]),
            premium=d["premium"],
            starts_on=str(d["starts_on"]),
            ends_on=str(d["ends_on"]),
            status=d["status"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "policyholders": [dict(p) for p in self.policyholders],
            "equipment_codes": list(self.equipment_codes),
            "cover": self.cover,
            "limits": dict(self.limits),
            "premium": self.premium,
            "starts_on": self.starts_on,
            "ends_on": self.ends_on,
            "status": self.status,
        }

    def digest(self) -> str:
        return hashlib.sha256(_DIGEST_JSON.encode(self.to_dict()).encode()).hexdigest()


# -- events -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    def to_data(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def type(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class PolicyEnrolled(Event):
    """An insurer reported a policy for the first time."""

    insurer: str
    policy_no: str
    revision: int
    terms: Terms

    def to_data(self):
        return {
            "insurer": self.insurer,
            "policy_no": self.policy_no,
            "revision": self.revision,
            "terms": self.terms.to_dict(),
        }


@dataclass(frozen=True)
class PolicyRevised(Event):
    """A newer revision of the policy superseded the stored one."""

    revision: int
    terms: Terms
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def to_data(self):
        return {
            "revision": self.revision,
            "terms": self.terms.to_dict(),
            "added": list(self.added),
            "removed": list(self.removed),
        }


@dataclass(frozen=True)
class PolicyCancelled(Event):
    """The insurer cancelled the policy (a revision with status ``cancelled``)."""

    revision: int
    terms: Terms

    def to_data(self):
        return {"revision": self.revision, "terms": self.terms.to_dict()}


@dataclass(frozen=True)
class PolicyEndingSoon(Event):
    """Reminder: the policy ends within ``REMINDER_DAYS`` days."""

    ends_on: str
    reminded_on: str

    def to_data(self):
        return {"ends_on": self.ends_on, "reminded_on": self.reminded_on}


@dataclass(frozen=True)
class PolicyLapsed(Event):
    """The policy's period ended without a renewal revision: its cover is gone."""

    ends_on: str
    equipment_codes: tuple[str, ...]

    def to_data(self):
        return {"ends_on": self.ends_on, "equipment_codes": list(self.equipment_codes)}


def event_from_data(type_: str, data: dict[str, Any]) -> Event:
    if type_ == "PolicyEnrolled":
        return PolicyEnrolled(
            data["insurer"], data["policy_no"], data["revision"], Terms.from_dict(data["terms"])
        )
    if type_ == "PolicyRevised":
        return PolicyRevised(
            data["revision"],
            Terms.from_dict(data["terms"]),
            tuple(data.get("added", ())),
            tuple(data.get("removed", ())),
        )
    if type_ == "PolicyCancelled":
        return PolicyCancelled(data["revision"], Terms.from_dict(data["terms"]))
    if type_ == "PolicyEndingSoon":
        return PolicyEndingSoon(data["ends_on"], data["reminded_on"])
    if type_ == "PolicyLapsed":
        return PolicyLapsed(data["ends_on"], tuple(data["equipment_codes"]))
    raise ValueError(f"unknown policy event {type_}")


# -- aggregate ----------------------------------------------------------------------------


def stream_id(insurer: str, policy_no: str) -> str:
    return f"policy-{insurer}-{policy_no}"


@dataclass
class Policy:
    insurer: str
    policy_no: str
    revision: int = 0
    terms: Terms | None = None
    digest: str = ""
    version: int = 0
    reminded_for: str | None = None  # the end date a reminder went out for
    lapsed: bool = False
    history: list[str] = field(default_factory=list)

    @property
    def exists(self) -> bool:
        return self.version > 0

    # decide ------------------------------------------------------------------------------

    def sync(self, revision: int, terms: Terms) -> tuple[str, list[Event]]:
        """Decide on a pushed revision: ``("created"|"superseded"|"unchanged", events)``.

        Raises ``StaleRevision`` for an older revision, or the same revision with other terms.
        """
        if not self.exists:
            return "created", [PolicyEnrolled(self.insurer, self.policy_no, revision, terms)]
        if revision < self.revision:
            raise StaleRevision(f"revision {revision} is older than the stored {self.revision}")
        if revision == self.revision:
            if terms.digest() == self.digest:
                return "unchanged", []
            raise StaleRevision(f"revision {revision} is already stored with other content")
        if terms.status == "cancelled":
            return "superseded", [PolicyCancelled(revision, terms)]
        old = set(self.terms.equipment_codes) if self.terms else set()
        new = set(terms.equipment_codes)
        return "superseded", [
            PolicyRevised(revision, terms, tuple(sorted(new - old)), tuple(sorted(old - new)))
        ]

    def due_reminder(self, today: date) -> list[Event]:
        """A reminder when the policy ends within REMINDER_DAYS days (once per end date)."""
        if not self.terms or self.terms.status != "active" or self.lapsed:
            return []
        ends = date.fromisoformat(self.terms.ends_on)
        if (
            today <= ends <= today + timedelta(days=REMINDER_DAYS)
            and self.reminded_for != self.terms.ends_on
        ):
            return [PolicyEndingSoon(self.terms.ends_on, today.isoformat())]
        return []

    def due_lapse(self, today: date) -> list[Event]:
        """Lapse once the day after the period has begun with no newer revision."""
        if not self.terms or self.terms.status != "active" or self.lapsed:
            return []
        if today > date.fromisoformat(self.terms.ends_on):
            return [PolicyLapsed(self.terms.ends_on, self.terms.equipment_codes)]
        return []

    # apply (never checks) ----------------------------------------------------------------

    def apply(self, event: Event) -> None:
        self.version += 1
        self.history.append(event.type)
        if isinstance(event, PolicyEnrolled | PolicyRevised | PolicyCancelled):
            self.revision = event.revision
            self.terms = event.terms
            self.digest = event.terms.digest()
            self.lapsed = False
        elif isinstance(event, PolicyEndingSoon):
            self.reminded_for = event.ends_on
        elif isinstance(event, PolicyLapsed):
            self.lapsed = True

    @classmethod
    def from_events(cls, insurer: str, policy_no: str, events: list[Event]) -> Policy:
        policy = cls(insurer, policy_no)
        for ev in events:
            policy.apply(ev)
        return policy
