"""Rule sets as versioned data: one JSON file per version in ``rulesets/``, checked on load.

A rule set says how many demerit points each kind of fact costs a maintenance unit in a
calendar year, which facts force grade D whatever the points (vetoes), and the grade bands of
net demerits. It takes effect from ``effective_from``; a score as of a day uses the version in
force that day. Pure: standard library and ``infra.domain`` only.

A rule set that cannot be used is refused with ``Invalid`` on the field at fault (an unknown
rule, a missing or negative number, bands that overlap or leave a gap).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from infra import domain

SHIPPED = Path(__file__).parent / "rulesets"
DEFAULT_VERSION = "demerit-2016"

# The facts a unit's score is computed from: the quality events of the API, the missed
# half-monthly maintenance the sweep derives, and what licensing and the blacklist report.
QUALITY_EVENT_TYPES = (
    "inspection_result",
    "entrapment",
    "fault",
    "complaint_verified",
    "penalty",
    "accident",
    "forged_record",
    "beyond_licence_scope",
    "expired_licence_work",
    "duty_phone_unanswered",
)
FACT_TYPES = (
    *QUALITY_EVENT_TYPES,
    "missed_maintenance",
    "licence_expired",
    "serious_violation_listed",
)

# Each rule the scorer knows, with its parameters: a number (``int``), the entrapment limits
# per area (``limits``) or the first-pass rate bands (``bands``).
RULE_PARAMETERS: dict[str, dict[str, str]] = {
    "beyond_licence_scope": {"points": "int"},
    "forged_record": {"points": "int"},
    "expired_licence_work": {"points": "int"},
    "duty_phone_unanswered": {"points": "int"},
    "complaint_verified": {"points": "int"},
    "penalty": {"points": "int"},
    "repeated_faults": {"points": "int", "faults_per_month": "int"},
    "late_entrapment_arrival": {"points": "int", "limit_minutes": "limits"},
    "first_pass_rate": {"bands": "bands"},
    "missed_maintenance": {"points": "int", "per_elevators": "int"},
}
ENTRAPMENT_AREAS = ("central", "outer")
TOP_LEVEL = {
    "version",
    "effective_from",
    "description",
    "objection_working_days",
    "rules",
    "vetoes",
    "grades",
}


@dataclass(frozen=True)
class Veto:
    """A fact that forces grade D: of type ``fact`` whose details match ``where``."""

    id: str
    fact: str
    where: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, fact_type: str, details: Mapping[str, Any]) -> bool:
        return fact_type == self.fact and all(details.get(k) == v for k, v in self.where.items())


@dataclass(frozen=True)
class Band:
    """Grade ``grade`` for net demerits from ``min`` to ``max`` (``None``: no upper bound)."""

    grade: str
    min: int
    max: int | None


@dataclass(frozen=True)
class RuleSet:
    version: str
    effective_from: date
    rules: Mapping[str, Mapping[str, Any]]
    vetoes: tuple[Veto, ...]
    bands: tuple[Band, ...]
    objection_working_days: int = 10
    description: str = ""
    source: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def grade(self, demerits: Decimal) -> str:
        """The band's grade; a fraction between two integer bands (10.5) belongs to the upper
        one: a band covers (previous max, max]."""
        for band in self.bands:
            if band.max is None or demerits <= band.max:
                return band.grade
        return self.bands[-1].grade  # unreachable: the last band has no upper bound

    @property
    def worst_grade(self) -> str:
        return self.bands[-1].grade

    def rule(self, name: str) -> Mapping[str, Any] | None:
        return self.rules.get(name)


# --- parsing and validation -----------------------------------------------------------------


def parse(data: Any) -> RuleSet:
    """A rule set from its data (a file's content or a request body); ``Invalid`` on the field
    at fault otherwise."""
    if not isinstance(data, Mapping):
        raise domain.Invalid("_schema", "a rule set is an object")
    unknown = sorted(set(data) - TOP_LEVEL)
    if unknown:
        raise domain.Invalid(unknown[0], "unknown field")
    version = domain.text(data.get("version"), "version")
    if len(version) > 40 or not all(c.isalnum() or c in "-_." for c in version):
        raise domain.Invalid("version", "letters, digits, '-', '_' or '.', at most 40")
    effective_from = domain.as_date(data.get("effective_from"), "effective_from")
    objection = data.get("objection_working_days", 10)
    _count(objection, "objection_working_days", minimum=1)
    rules = _rules(data.get("rules"))
    vetoes = _vetoes(data.get("vetoes", []))
    bands = _bands(data.get("grades"))
    return RuleSet(
        version=version,
        effective_from=effective_from,
        rules=rules,
        vetoes=vetoes,
        bands=bands,
        objection_working_days=objection,
        description=str(data.get("description") or ""),
        source=dict(data),
    )


def _count(value: Any, path: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise domain.Invalid(path, f"must be an integer of at least {minimum}")
    return value


def _rules(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping) or not value:
        raise domain.Invalid("rules", "must be an object naming at least one rule")
    out: dict[str, dict[str, Any]] = {}
    for name, params in value.items():
        path = f"rules.{name}"
        expected = RULE_PARAMETERS.get(name)
        if expected is None:
            raise domain.Invalid(path, f"unknown rule; known: {', '.join(sorted(RULE_PARAMETERS))}")
        if not isinstance(params, Mapping):
            raise domain.Invalid(path, "must be an object of the rule's parameters")
        extra = sorted(set(params) - set(expected))
        if extra:
            raise domain.Invalid(f"{path}.{extra[0]}", "unknown parameter")
        rule: dict[str, Any] = {}
        for param, kind in expected.items():
            if param not in params:
                raise domain.Invalid(f"{path}.{param}", "required")
            rule[param] = _parameter(kind, params[param], f"{path}.{param}")
        if name == "missed_maintenance":
            _count(rule["per_elevators"], f"{path}.per_elevators", minimum=1)
        if name == "repeated_faults":
            _count(rule["faults_per_month"], f"{path}.faults_per_month", minimum=1)
        out[name] = rule
    return out


def _parameter(kind: str, value: Any, path: str) -> Any:
    if kind == "int":
        return _count(value, path)
    if kind == "limits":
        if not isinstance(value, Mapping) or set(value) != set(ENTRAPMENT_AREAS):
            raise domain.Invalid(path, "must give the minutes for 'central' and 'outer'")
        return {area: _count(value[area], f"{path}.{area}", minimum=1) for area in ENTRAPMENT_AREAS}
    # bands of the first-pass rate: thresholds strictly falling, points not falling
    if not isinstance(value, list) or not value:
        raise domain.Invalid(path, "must be a list of {below_percent, points}")
    bands: list[dict[str, int]] = []
    for i, band in enumerate(value):
        if not isinstance(band, Mapping) or set(band) != {"below_percent", "points"}:
            raise domain.Invalid(f"{path}.{i}", "must be {below_percent, points}")
        below = _count(band["below_percent"], f"{path}.{i}.below_percent", minimum=1)
        if below > 100:
            raise domain.Invalid(f"{path}.{i}.below_percent", "must be at most 100")
        points = _count(band["points"], f"{path}.{i}.points")
        if bands and below >= bands[-1]["below_percent"]:
            raise domain.Invalid(f"{path}.{i}.below_percent", "must fall from band to band")
        if bands and points < bands[-1]["points"]:
            raise domain.Invalid(f"{path}.{i}.points", "a lower rate must not cost fewer points")
        bands.append({"below_percent": below, "points": points})
    return bands


def _vetoes(value: Any) -> tuple[Veto, ...]:
    if not isinstance(value, list):
        raise domain.Invalid("vetoes", "must be a list")
    out: list[Veto] = []
    for i, veto in enumerate(value):
        path = f"vetoes.{i}"
        if not isinstance(veto, Mapping) or not {"id", "fact"} <= set(veto) <= {
            "id",
            "fact",
            "where",
        }:
            raise domain.Invalid(path, "must be {id, fact, where?}")
        veto_id = domain.text(veto["id"], f"{path}.id")
        if any(v.id == veto_id for v in out):
            raise domain.Invalid(f"{path}.id", f"{veto_id} is named twice")
        if veto["fact"] not in FACT_TYPES:
            raise domain.Invalid(f"{path}.fact", f"unknown fact; known: {', '.join(FACT_TYPES)}")
        where = veto.get("where", {})
        if not isinstance(where, Mapping):
            raise domain.Invalid(f"{path}.where", "must be an object of detail values")
        out.append(Veto(veto_id, veto["fact"], dict(where)))
    return tuple(out)


def _bands(value: Any) -> tuple[Band, ...]:
    """Grade bands over the integers from 0 up, each starting one above the previous band's
    max, the last one open-ended: no overlap, no gap."""
    if not isinstance(value, list) or not value:
        raise domain.Invalid("grades", "must be a list of {grade, min, max}")
    out: list[Band] = []
    for i, band in enumerate(value):
        path = f"grades.{i}"
        if not isinstance(band, Mapping) or set(band) != {"grade", "min", "max"}:
            raise domain.Invalid(path, "must be {grade, min, max}")
        grade = domain.text(band["grade"], f"{path}.grade")
        if any(b.grade == grade for b in out):
            raise domain.Invalid(f"{path}.grade", f"grade {grade} is named twice")
        low = _count(band["min"], f"{path}.min")
        high = band["max"]
        if out:
            prev = out[-1]
            assert prev.max is not None  # an open band before this one is refused below
            if low <= prev.max:
                raise domain.Invalid(
                    f"{path}.min", f"overlaps grade {prev.grade} ({prev.min}-{prev.max})"
                )
            if low > prev.max + 1:
                raise domain.Invalid(
                    f"{path}.min",
                    f"leaves a gap after grade {prev.grade}: must be {prev.max + 1}",
                )
        elif low != 0:
            raise domain.Invalid(f"{path}.min", "the first band must start at 0")
        last = i == len(value) - 1
        if high is None:
            if not last:
                raise domain.Invalid(f"{path}.max", "only the last band is open-ended")
        else:
            _count(high, f"{path}.max", minimum=low)
            if last:
                raise domain.Invalid(f"{path}.max", "the last band must be open-ended (null)")
        out.append(Band(grade, low, high))
    return tuple(out)


# --- the versions on file -------------------------------------------------------------------


class RuleSets:
    """The rule-set versions known, and which one is in force on a day."""

    def __init__(self, rulesets: Iterable[RuleSet]):
        self.by_version: dict[str, RuleSet] = {}
        for ruleset in sorted(rulesets, key=lambda r: (r.effective_from, r.version)):
            if ruleset.version in self.by_version:
                raise domain.Invalid("version", f"{ruleset.version} is defined twice")
            self.by_version[ruleset.version] = ruleset

    @classmethod
    def shipped(cls, directory: Path = SHIPPED) -> RuleSets:
        """The versions in the repository's ``rulesets/`` (one file per version; the file is
        named after its version)."""
        found = []
        for path in sorted(directory.glob("*.json")):
            ruleset = parse(json.loads(path.read_text(encoding="utf-8")))
            if ruleset.version != path.stem:
                raise domain.Invalid("version", f"{path.name} holds version {ruleset.version}")
            found.append(ruleset)
        return cls(found)

    def with_version(self, ruleset: RuleSet) -> RuleSets:
        return self.with_versions([ruleset])

    def with_versions(self, rulesets: Iterable[RuleSet]) -> RuleSets:
        return RuleSets([*self.by_version.values(), *rulesets])

    def __iter__(self):
        return iter(self.by_version.values())

    def get(self, version: str) -> RuleSet:
        try:
            return self.by_version[version]
        except KeyError:
            raise domain.NotKnown(f"rule set {version} not found") from None

    def in_force(self, day: date) -> RuleSet:
        """The version with the latest ``effective_from`` on or before ``day``; before every
        version took effect, the default (the platform scores every period it holds)."""
        current = self.by_version.get(DEFAULT_VERSION)
        for ruleset in self.by_version.values():  # in effective_from order
            if ruleset.effective_from <= day:
                current = ruleset
        if current is None:
            raise domain.NotKnown(f"no rule set is in force on {day.isoformat()}")
        return current
