"""Audit rules: the risk weights, the yearly minimum, the plan size and the reproducible draw.

Kept apart from the aggregate so the draw is a pure function anyone can run again on the
recorded seed and candidates (``AuditPlan.reproduce``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class AuditRules:
    """Risk weights (*configurable*): a licensee's weight is ``base`` plus each that applies."""

    base: float = 1.0
    accident_within_2_years: float = 2.0
    credit_grade_c_or_d: float = 2.0
    verified_complaint: float = 1.0
    minimum_rate: float = 0.05  # of licensees per year (reported, not enforced per plan)

    def weight(self, factors: dict[str, bool]) -> float:
        w = self.base
        if factors.get("accident"):
            w += self.accident_within_2_years
        if factors.get("credit_c_or_d"):
            w += self.credit_grade_c_or_d
        if factors.get("complaint"):
            w += self.verified_complaint
        return w


def plan_size(candidates: int, size: int | None, rate: float | None) -> int:
    """Targets to draw: ``size`` (at most all), or ``rate`` of the candidates rounded up."""
    if size is not None:
        return min(size, candidates)
    return min(candidates, math.ceil((rate or 0) * candidates))


def draw(
    candidates: Sequence[dict],
    inspectors: Sequence[dict],
    seed: int,
    size: int,
    per_target: int,
) -> list[dict]:
    """The reproducible draw. ``candidates``: ``[{"licence_no", "weight", "conflicts": [uscc]}]``
    in a fixed order; ``inspectors``: ``[{"inspector_id", "organization_uscc"}]`` in a fixed
    order. Weighted sampling without replacement (Efraimidis-Spirakis keys u^(1/w)), then
    inspectors drawn uniformly among those without a conflict."""
    rng = random.Random(seed)
    keyed = [(rng.random() ** (1.0 / c["weight"]), i) for i, c in enumerate(candidates)]
    chosen = [i for _, i in sorted(keyed, key=lambda k: (-k[0], k[1]))[:size]]
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
