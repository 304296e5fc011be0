"""Audit rules: the risk weights, the yearly minimum, the plan size and the reproducible draw.

Kept apart from the aggregate so the draw is a pure function anyone can run again on the
recorded seed and candidates (``AuditPlan.reproduce``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class AuditRules:
    """The audit rule set (*configurable*). Risk weights: a licensee's weight is ``base`` plus
    each that applies. ``yearly_minimum_rate``: the share of a bureau's licensees of one kind
    to draw in each calendar year (DOMAIN.md: at least 5 %), also the rate of a plan that names
    neither a size nor a rate. ``prefer_undrawn_in_year``: a plan draws licensees no plan of
    the year has drawn before the others, so the year's plans cover the most units."""

    base: float = 1.0
    accident_within_2_years: float = 2.0
    credit_grade_c_or_d: float = 2.0
    verified_complaint: float = 1.0
    yearly_minimum_rate: float = 0.05
    prefer_undrawn_in_year: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.yearly_minimum_rate <= 1:
            raise ValueError("yearly_minimum_rate must be in (0, 1]")

    def weight(self, factors: dict[str, bool]) -> float:
        w = self.base
        if factors.get("accident"):
            w += self.accident_within_2_years
        if factors.get("credit_c_or_d"):
            w += self.credit_grade_c_or_d
        if factors.get("complaint"):
            w += self.verified_complaint
        return w


def at_rate(count: int, rate: float) -> int:
    """``rate`` of ``count``, rounded up. The rate is taken as the decimal it is written as:
    7 % of 100 is 7 (in binary floating point 0.07 * 100 is 7.000000000000001, rounded up 8)."""
    return math.ceil(Fraction(repr(float(rate))) * count)


def plan_size(candidates: int, size: int | None, rate: float | None) -> int:
    """Targets to draw: ``size`` (at most all), or ``rate`` of the candidates rounded up."""
    if size is not None:
        return min(size, candidates)
    return min(candidates, at_rate(candidates, rate or 0))


def draw(
    candidates: Sequence[dict],
    inspectors: Sequence[dict],
    seed: int,
    size: int,
    per_target: int,
) -> list[dict]:
    """The reproducible draw. ``candidates``: ``[{"licence_no", "weight", "conflicts": [uscc],
    "drawn_this_year"?: bool}]`` in a fixed order; ``inspectors``: ``[{"inspector_id",
    "organization_uscc"}]`` in a fixed order. Weighted sampling without replacement
    (Efraimidis-Spirakis keys u^(1/w)), candidates drawn earlier in the year last (without the
    flag, as in plans recorded before it, the order is by key alone), then inspectors drawn
    uniformly among those without a conflict."""
    rng = random.Random(seed)
    keyed = [(rng.random() ** (1.0 / c["weight"]), i) for i, c in enumerate(candidates)]
    chosen = [
        i
        for _, i in sorted(
            keyed, key=lambda k: (bool(candidates[k[1]].get("drawn_this_year")), -k[0], k[1])
        )[:size]
    ]
    targets = []
    for i in chosen:
        c = candidates[i]
        conflicts = set(c.get("conflicts", ()))
        eligible = [
            x["inspector_id"] for x in inspectors if x["organization_uscc"] not in conflicts
        ]
        picked = rng.sample(eligible, min(per_target, len(eligible)))
        targets.append({**{k: v for k, v in c.items() if k != "conflicts"}, "inspectors": picked})
    return targets
