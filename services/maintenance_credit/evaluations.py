"""Evaluations of a period and appeals against single deductions.

At the end of a period (a calendar year) the city publishes every unit's score for objection
for ``objection_working_days`` working days (10 in ``demerit-2016``), counted on the
licensing working-day calendar. In that time a unit may appeal single deductions; the bureau
that licensed the unit decides (the city bureau may decide any). When the objection period
has passed and every appeal of the period is decided, the evaluation is finalized: the scores
are computed again with the overturned deductions reversed, and those grades are final.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select

from infra import errors
from infra.clock import local_date
from infra.repository import Repository, domain_errors
from infra.schemas import load
from services.licensing.calendar import WorkingCalendar
from services.maintenance_credit import schemas, standings
from services.maintenance_credit.domain import (
    CITY_BUREAU,
    Appeal,
    DecideAppeal,
    Evaluation,
    FileAppeal,
    FinalizeEvaluation,
    PublishEvaluation,
    UnitGrade,
    appeal_key,
    period_end,
)
from services.maintenance_credit.projections import credit_appeals, credit_evaluations, credit_units
from services.maintenance_credit.scores import (
    catalogue,
    number,
    shipped,
    unit_grades,
    unit_score,
)


def _grades(repo: Repository, period: str, appeals_as_of=None) -> tuple[UnitGrade, ...]:
    """Every unit that held a maintenance licence on some day of the period."""
    end = period_end(period)
    start = date(end.year, 1, 1)
    u = credit_units.c
    units = (
        repo.conn.execute(
            select(u.uscc)
            .where(
                or_(u.licensed_from.is_(None), u.licensed_from <= end),
                or_(u.ended_on.is_(None), u.ended_on >= start),
            )
            .order_by(u.uscc)
        )
        .scalars()
        .all()
    )
    grades = unit_grades(repo.conn, units, end, appeals_as_of)
    return tuple(UnitGrade(uscc, g.demerits, g.grade, g.vetoed) for uscc, g in grades.items())


def evaluation_view(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "id": evaluation.period,
        "period": evaluation.period,
        "ruleset": evaluation.ruleset,
        "status": evaluation.status,
        "published_on": evaluation.published_on.isoformat() if evaluation.published_on else None,
        "objection_until": (
            evaluation.objection_until.isoformat() if evaluation.objection_until else None
        ),
        "finalized_on": evaluation.finalized_on.isoformat() if evaluation.finalized_on else None,
        "units": len(evaluation.grades),
        "grades": {
            g: sum(1 for u in evaluation.grades if u.grade == g)
            for g in grade_names(u.grade for u in evaluation.grades)
        },
        "version": evaluation.version,
    }


def grade_names(seen: Iterable[str] = ()) -> list[str]:
    """Every grade the shipped versions know, best first, then others ``seen``."""
    names: list[str] = []
    for ruleset in shipped():
        names += [b.grade for b in ruleset.bands if b.grade not in names]
    return names + sorted(set(seen) - set(names))


def publish(
    repo: Repository, now: datetime, calendar: WorkingCalendar, body: Any, command_id=None
) -> dict:
    """Publish every maintenance unit's score of the period for objection."""
    period = load(schemas.EvaluationIn, body, "evaluation")["period"]
    with domain_errors():
        ruleset = catalogue(repo.conn).in_force(period_end(period))
    evaluation = repo.load(Evaluation, period)
    objection_until = calendar.add_working_days(
        local_date(now), ruleset.objection_working_days
    ).date
    grades = () if evaluation.exists else _grades(repo, period)
    command = PublishEvaluation(
        actor=repo.actor,
        period=period,
        ruleset=ruleset.version,
        objection_until=objection_until,
        grades=grades,
    )
    repo.decide_and_save(period, evaluation, command, now, command_id=command_id)
    return evaluation_view(evaluation)


def finalize(repo: Repository, now: datetime, evaluation_id: str, command_id=None) -> dict:
    evaluation = repo.load(Evaluation, evaluation_id, must_exist="evaluation")
    pending = (
        repo.conn.execute(
            select(func.count()).where(
                credit_appeals.c.period == evaluation.period,
                credit_appeals.c.status == "under_appeal",
            )
        ).scalar()
        or 0
    )
    ready = evaluation.status == "published" and not evaluation.open_for_objection(local_date(now))
    grades = _grades(repo, evaluation.period, local_date(now)) if ready and not pending else ()
    command = FinalizeEvaluation(actor=repo.actor, appeals_pending=pending, grades=grades)
    if repo.decide_and_save(evaluation_id, evaluation, command, now, command_id=command_id):
        worst = catalogue(repo.conn).get(evaluation.ruleset).worst_grade
        standings.finalize(repo, now, evaluation.period, evaluation.grades, worst)
    return evaluation_view(evaluation)


# --- appeals --------------------------------------------------------------------------------


def appeal_view(appeal: Appeal) -> dict[str, Any]:
    return {
        "id": appeal.appeal_id,
        "uscc": appeal.uscc,
        "deduction_id": appeal.deduction_id,
        "period": appeal.period,
        "rule": appeal.rule,
        "points": number(appeal.points),
        "grounds": appeal.grounds,
        "bureau": appeal.bureau,
        "status": appeal.status,
        "filed_on": appeal.filed_on.isoformat() if appeal.filed_on else None,
        "decided_on": appeal.decided_on.isoformat() if appeal.decided_on else None,
        "reason": appeal.reason,
        "version": appeal.version,
    }


def file_appeal(repo: Repository, now: datetime, uscc: str, body: Any, command_id=None) -> dict:
    """A unit appeals one deduction of the evaluation open for objection."""
    data = load(schemas.AppealIn, body, "appeal")
    today = local_date(now)
    unit = (
        repo.conn.execute(select(credit_units).where(credit_units.c.uscc == uscc))
        .mappings()
        .first()
    )
    if unit is None:
        raise errors.NotFound(f"maintenance unit {uscc} not found")
    open_periods = list(
        repo.conn.execute(
            select(credit_evaluations.c.period)
            .where(
                credit_evaluations.c.status == "published",
                credit_evaluations.c.objection_until >= today,
            )
            .order_by(credit_evaluations.c.period.desc())
        ).scalars()
    )
    if not open_periods:
        raise errors.Conflict("no evaluation is open for objection")
    for period in open_periods:
        result = unit_score(repo.conn, uscc, period_end(period), today)
        deduction = next((d for d in result.deductions if d.id == data["deduction_id"]), None)
        if deduction is not None:
            break
    else:
        raise errors.NotFound(f"deduction {data['deduction_id']} not found")
    key = appeal_key(uscc, deduction.id)
    appeal = repo.load(Appeal, key)
    command = FileAppeal(
        actor=repo.actor,
        appeal_id=key,
        uscc=uscc,
        deduction_id=deduction.id,
        period=period,
        rule=deduction.rule,
        points=deduction.points,
        grounds=data["grounds"],
        bureau=unit["bureau"] or CITY_BUREAU,
    )
    repo.decide_and_save(key, appeal, command, now, command_id=command_id)
    return appeal_view(appeal)


def decide_appeal(
    repo: Repository,
    now: datetime,
    appeal_id: str,
    body: Any,
    bureau: str | None = None,
    command_id=None,
) -> dict:
    """The unit's bureau (or the city) upholds or overturns the deduction appealed."""
    data = load(schemas.AppealDecisionIn, body, "decision")
    appeal = repo.load(Appeal, appeal_id, must_exist="appeal")
    command = DecideAppeal(actor=repo.actor, bureau=bureau, **data)
    if repo.decide_and_save(appeal_id, appeal, command, now, command_id=command_id):
        standings.refresh(repo, now, [appeal.uscc])
    return appeal_view(appeal)


def get_appeal(repo: Repository, appeal_id: str) -> dict:
    return appeal_view(repo.load(Appeal, appeal_id, must_exist="appeal"))


def get_evaluation(repo: Repository, evaluation_id: str) -> dict:
    return evaluation_view(repo.load(Evaluation, evaluation_id, must_exist="evaluation"))
