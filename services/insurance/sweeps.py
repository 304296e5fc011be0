"""Time-driven rules on policies: the ending-soon reminder and the lapse, as kit sweeps.

Each sweep asks the read model for the policies that are due on the business date (China
Standard Time) of ``now``, in key order, and leaves out those whose rule is done already: a
policy reminded for its end date is due no more, a lapsed one is no longer active. The
aggregate decides again on its own state (``RemindPolicy``, ``LapsePolicy``), and the sweep's
cursor walks the due set batch by batch, so however many policies end on the same days, each
gets its turn.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.engine import Connection

from infra.clock import local_date
from infra.domain import SYSTEM_ACTOR
from infra.sweep import Sweep
from services.insurance.domain import (
    REMINDER_DAYS,
    LapsePolicy,
    Policy,
    RemindPolicy,
    policy_key,
    split_key,
)
from services.insurance.projections import policies

SWEEP_BATCH = 500


def reminders_due(conn: Connection, after: str | None, limit: int, now: datetime) -> list[str]:
    """Active policies ending within ``REMINDER_DAYS`` days that were not reminded of that
    end date yet."""
    today = local_date(now)
    q = select(policies.c.insurer, policies.c.policy_no).where(
        policies.c.status == "active",
        policies.c.ends_on >= today,
        policies.c.ends_on <= today + timedelta(days=REMINDER_DAYS),
        or_(policies.c.reminded_for.is_(None), policies.c.reminded_for != policies.c.ends_on),
    )
    return _in_key_order(conn, q, after, limit)


def lapses_due(conn: Connection, after: str | None, limit: int, now: datetime) -> list[str]:
    """Active policies whose period ended before today."""
    q = select(policies.c.insurer, policies.c.policy_no).where(
        policies.c.status == "active", policies.c.ends_on < local_date(now)
    )
    return _in_key_order(conn, q, after, limit)


def _in_key_order(conn: Connection, q: Select[Any], after: str | None, limit: int) -> list[str]:
    if after is not None:
        insurer, policy_no = split_key(after)
        q = q.where(
            or_(
                policies.c.insurer > insurer,
                and_(policies.c.insurer == insurer, policies.c.policy_no > policy_no),
            )
        )
    rows = conn.execute(q.order_by(policies.c.insurer, policies.c.policy_no).limit(limit))
    return [policy_key(r.insurer, r.policy_no) for r in rows]


def _remind(policy: Policy, now: datetime) -> RemindPolicy:
    return RemindPolicy(actor=SYSTEM_ACTOR, on=local_date(now))


def _lapse(policy: Policy, now: datetime) -> LapsePolicy:
    return LapsePolicy(actor=SYSTEM_ACTOR, on=local_date(now))


# In bulk: a batch of due policies is decided, then saved in a few statements (the rows of
# every saved policy by ``projections.write_rows`` in one call), not one append each.
REMINDERS = Sweep(
    "insurance-reminders",
    Policy,
    reminders_due,
    _remind,
    batch=SWEEP_BATCH,
    dated=True,
    bulk=True,
)
LAPSES = Sweep(
    "insurance-lapses", Policy, lapses_due, _lapse, batch=SWEEP_BATCH, dated=True, bulk=True
)
