"""The yearly minimum of audits: of a bureau's licensees of one kind, how many the plans of a
calendar year must draw (``AuditRules.yearly_minimum_rate``, rounded up) and how many they
drew. A plan is one draw; the minimum is a duty of the bureau over the year, so it is counted
across the year's plans, each licence once however many plans drew it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .rules import AuditRules, at_rate


@dataclass(frozen=True)
class YearlyCoverage:
    """One bureau, kind and year: ``licensees`` (the bureau's active licences of the kind, the
    set a draw picks from), ``required`` of them and ``drawn`` (distinct licences targeted)."""

    bureau: str
    kind: str
    year: int
    licensees: int
    required: int
    drawn: int

    @property
    def shortfall(self) -> int:
        return max(0, self.required - self.drawn)

    @property
    def met(self) -> bool:
        return self.shortfall == 0

    def view(self) -> dict[str, Any]:
        """What a plan shows of its year (its bureau and kind are the plan's)."""
        return {
            "year": self.year,
            "licensees": self.licensees,
            "required": self.required,
            "drawn": self.drawn,
            "shortfall": self.shortfall,
            "met": self.met,
        }

    def row(self) -> dict[str, Any]:
        """One line of the coverage report."""
        return {"bureau": self.bureau, "kind": self.kind, **self.view()}


def drawn_in_year(plans: Iterable[Mapping], bureau: str, kind: str, year: int) -> set[str]:
    """The licence numbers targeted by the plans of ``bureau`` and ``kind`` drawn in ``year``.
    ``plans``: ``{"bureau", "kind", "drawn_on": date, "targets": [licence_no]}``."""
    return {
        no
        for p in plans
        if p["bureau"] == bureau and p["kind"] == kind and p["drawn_on"].year == year
        for no in p["targets"]
    }


def yearly_coverage(
    rules: AuditRules, bureau: str, kind: str, year: int, licensees: int, plans: Iterable[Mapping]
) -> YearlyCoverage:
    """The year's minimum for ``licensees`` against what ``plans`` drew (see ``drawn_in_year``)."""
    return YearlyCoverage(
        bureau=bureau,
        kind=kind,
        year=year,
        licensees=licensees,
        required=at_rate(licensees, rules.yearly_minimum_rate),
        drawn=len(drawn_in_year(plans, bureau, kind, year)),
    )
