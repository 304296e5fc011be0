"""Rule-set versions: listing them, adopting a new one over the API (in force from a future
day), and the what-if run that scores every unit under a version and reports which would
change grade."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from infra import errors
from infra.clock import local_date
from infra.repository import Repository, domain_errors
from infra.schemas import load
from services.maintenance_credit import schemas
from services.maintenance_credit.domain import AdoptRuleSet, RuleSetVersion
from services.maintenance_credit.projections import credit_units
from services.maintenance_credit.rules import RuleSet
from services.maintenance_credit.scores import catalogue, unit_score


def ruleset_view(ruleset: RuleSet) -> dict[str, Any]:
    source = ruleset.source
    return {
        "version": ruleset.version,
        "effective_from": ruleset.effective_from.isoformat(),
        "description": ruleset.description,
        "objection_working_days": ruleset.objection_working_days,
        "rules": source.get("rules"),
        "vetoes": source.get("vetoes", []),
        "grades": source.get("grades"),
    }


def list_rulesets(conn: Connection) -> list[dict]:
    """Every version, in the order they take effect."""
    return [ruleset_view(r) for r in catalogue(conn)]


def adopt(repo: Repository, now: datetime, body: Any, command_id: str | None = None) -> dict:
    """Adopt a new version; it is checked as a shipped file is (``Invalid`` on the field at
    fault), must be new, and takes effect after today."""
    if not isinstance(body, dict):
        raise errors.Invalid("invalid rule set", {"_schema": ["a rule set is an object"]})
    definition = dict(body)
    if isinstance(definition.get("effective_from"), date):  # as the gateway loaded it
        definition["effective_from"] = definition["effective_from"].isoformat()
    key = str(definition.get("version") or "").strip()
    aggregate = repo.load(RuleSetVersion, key) if key else RuleSetVersion()
    known = tuple(catalogue(repo.conn).by_version)
    command = AdoptRuleSet(actor=repo.actor, definition=definition, known=known)
    repo.decide_and_save(key, aggregate, command, now, command_id=command_id)
    return ruleset_view(catalogue(repo.conn).get(aggregate.version_name))


def what_if(conn: Connection, now: datetime, version: str, body: Any = None) -> dict:
    """Every unit scored on ``as_of`` (default today) under the version in force then and
    under ``version``: the units whose grade would change."""
    data = load(schemas.WhatIfIn, body or {}, "what-if")
    as_of: date = data.get("as_of") or local_date(now)
    known = catalogue(conn)
    with domain_errors():
        proposed = known.get(version)
        current = known.in_force(as_of)
    changes, units = [], 0
    for uscc in conn.execute(select(credit_units.c.uscc).order_by(credit_units.c.uscc)).scalars():
        units += 1
        now_grade = unit_score(conn, uscc, as_of, ruleset=current).grade
        then_grade = unit_score(conn, uscc, as_of, ruleset=proposed).grade
        if now_grade != then_grade:
            changes.append({"uscc": uscc, "from": now_grade, "to": then_grade})
    return {
        "version": proposed.version,
        "compared_with": current.version,
        "as_of": as_of.isoformat(),
        "units": units,
        "changes": changes,
    }
