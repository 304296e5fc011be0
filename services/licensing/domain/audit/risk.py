"""Risk facts about licensees and the risk factors they make on a day (they weigh the draw)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

# Credit grades that weigh a licensee's draw (DOMAIN.md: C and D units are audited more often).
GRADES_AUDITED_MORE = ("C", "D")


@dataclass
class RiskFact:
    """A fact that raises a licensee's audit weight (accident, credit grade, complaint)."""

    fact_id: str
    uscc: str
    type: str
    occurred_on: date
    grade: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "fact_id": self.fact_id,
            "uscc": self.uscc,
            "type": self.type,
            "occurred_on": self.occurred_on,
            "grade": self.grade,
        }


def risk_factors(
    facts: Sequence[RiskFact], on: date, published_grade: str | None = None
) -> dict[str, bool]:
    """Which risk factors hold for one licensee on ``on``: an accident in the last 2 years, a
    latest credit grade of C or D, a verified complaint in the last 2 years. The grade is the
    final one the maintenance-credit service published (``published_grade``); an officer's
    ``credit_grade`` facts count only for a licensee it has published none for."""
    since = (
        on.replace(year=on.year - 2)
        if not (on.month == 2 and on.day == 29)
        else on.replace(year=on.year - 2, day=28)
    )
    grades = sorted(
        (f.occurred_on, f.grade) for f in facts if f.type == "credit_grade" and f.occurred_on <= on
    )
    return {
        "accident": any(f.type == "accident" and since < f.occurred_on <= on for f in facts),
        "credit_c_or_d": (
            published_grade in GRADES_AUDITED_MORE
            if published_grade is not None
            else bool(grades) and grades[-1][1] in GRADES_AUDITED_MORE
        ),
        "complaint": any(
            f.type == "complaint_verified" and since < f.occurred_on <= on for f in facts
        ),
    }
