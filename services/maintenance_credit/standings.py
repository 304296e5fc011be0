"""A unit's standing: the events that tell other services about its credit (``ScoreChanged``,
``VetoRecorded``, ``BlacklistTriggered``, ``GradeFinalized``, stream ``standing-<uscc>``).

The score is computed from the read models, so the standing is brought up to date where a
score can change: right after a quality event, an appeal's decision or a licence's expiry
(for that unit), at finalization (every unit), and by a rolling pass over every unit with the
missed-maintenance sweep (missed windows, and the day moving into a new period). The standing
decides what is new; an update that loses a race with another is skipped (the rolling pass
tells it later) rather than failing the command that caused it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from infra import domain, errors
from infra.clock import local_date
from infra.eventstore import ConcurrencyError
from infra.repository import Repository
from services.maintenance_credit.domain import FinalizeGrade, RecordStanding, Standing, UnitGrade
from services.maintenance_credit.projections import credit_units
from services.maintenance_credit.scores import facts_of, unit_score
from services.maintenance_credit.scoring import blacklist_triggers

log = logging.getLogger("sesp.maintenance_credit")
BATCH = 100


def refresh(repo: Repository, now: datetime, usccs: Iterable[str]) -> int:
    """Tell what changed in these units' standing (units the service does not know are left
    out); returns how many standings changed."""
    today = local_date(now)
    known = set(
        repo.conn.execute(
            select(credit_units.c.uscc).where(credit_units.c.uscc.in_(list(set(usccs))))
        ).scalars()
    )
    changed = 0
    for uscc in sorted(known):
        score = unit_score(repo.conn, uscc, today, today)
        facts = facts_of(repo.conn, uscc, today.replace(month=1, day=1), today)
        command = RecordStanding(
            actor=domain.SYSTEM_ACTOR,
            uscc=uscc,
            period=score.period,
            as_of=today,
            demerits=score.demerits,
            grade=score.grade,
            vetoed=score.vetoed,
            ruleset=score.ruleset,
            vetoes=tuple((v.veto, v.fact_id) for v in score.vetoes),
            triggers=tuple(
                (t.key, t.reason, t.fact_id, t.occurred_on)
                for t in blacklist_triggers(facts, today)
            ),
        )
        changed += _decide(repo, now, uscc, command)
    return changed


def finalize(
    repo: Repository, now: datetime, period: str, grades: Iterable[UnitGrade], worst: str
) -> None:
    for g in grades:
        command = FinalizeGrade(
            actor=domain.SYSTEM_ACTOR,
            uscc=g.uscc,
            period=period,
            demerits=g.demerits,
            grade=g.grade,
            vetoed=g.vetoed,
            worst_grade=worst,
        )
        _decide(repo, now, g.uscc, command)


class RollingPass:
    """Every unit in turn, ``BATCH`` per run, in credit-code order (wrapping at the end)."""

    def __init__(self) -> None:
        self.after: str | None = None

    def run(self, repo: Repository, now: datetime) -> int:
        query = select(credit_units.c.uscc).order_by(credit_units.c.uscc).limit(BATCH)
        if self.after is not None:
            query = query.where(credit_units.c.uscc > self.after)
        usccs = list(repo.conn.execute(query).scalars())
        self.after = usccs[-1] if len(usccs) == BATCH else None
        return refresh(repo, now, usccs) if usccs else 0


ROLLING = RollingPass()


def _decide(repo: Repository, now: datetime, uscc: str, command: domain.Command) -> bool:
    standing = repo.load(Standing, uscc)
    command_id = domain.derived_id("standing", uscc, standing.version)
    try:
        with repo.conn.begin_nested():
            return bool(repo.decide_and_save(uscc, standing, command, now, command_id=command_id))
    except (ConcurrencyError, errors.Conflict) as exc:
        log.info("standing of %s told later (%s)", uscc, exc)
        return False
