"""The numbers and names of licences: statuses, kind codes, licence and decision numbers,
default validity. *Configurable* values live in ``LicenceRules``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from ..common import add_years

ACTIVE, SUSPENDED, REVOKED, EXPIRED = "active", "suspended", "revoked", "expired"
# A use-registration certificate whose unit passed to a new user (a new certificate replaced it).
TRANSFERRED = "transferred"
STATUSES = (ACTIVE, SUSPENDED, REVOKED, EXPIRED, TRANSFERRED)
KIND_CODES = {
    "use_registration": "UR",
    "operator_certificate": "OC",
    "construction_notice": "CN",
    "pressure_piping_licence": "PP",
    "production_licence": "PL",
}


@dataclass(frozen=True)
class LicenceRules:
    """The *configurable* numbers of licences (a versioned rule set in all but name)."""

    validity_years: int = 4
    operator_item_years: int = 4
    renewal_lead_days: int = 30
    review_lead_months: int = 1
    review_reminder_days: int = 30
    operator_max_age: int = 65
    operator_max_gap_years: int = 1

    def review_by(self, item_valid_until: date) -> date:
        """The last day to ask for the review of an item expiring on ``item_valid_until``."""
        month = item_valid_until.month - self.review_lead_months
        year = item_valid_until.year + (month - 1) // 12
        month = (month - 1) % 12 + 1
        day = min(item_valid_until.day, _days_in_month(year, month))
        return date(year, month, day)


# The rules in force: what the service decides with and the licence rows are written with.
DEFAULT_RULES = LicenceRules()


def _days_in_month(year: int, month: int) -> int:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def licence_number(kind: str, bureau: str, year: int, sequence: int) -> str:
    """``PL-FTZ-2014-00001``: kind, issuing bureau, year of the decision, sequence."""
    return f"{KIND_CODES[kind]}-{bureau}-{year}-{sequence:05d}"


def decision_number(licence_no: str) -> str:
    """The public decision number (许可决定书文号) of the decision that issued a licence."""
    return f"XK-{licence_no}"


def default_valid_until(kind: str, decided_on: date, rules: LicenceRules) -> date | None:
    if kind in ("production_licence", "pressure_piping_licence"):
        return add_years(decided_on, rules.validity_years) - timedelta(days=1)
    if kind == "operator_certificate":
        return add_years(decided_on, rules.operator_item_years) - timedelta(days=1)
    return None
