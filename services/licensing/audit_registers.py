"""What a bureau keeps to run its audits: its inspectors' list, the risk facts its officers
record about the units and licensees it supervises, and the list of its plans.

Risk facts weigh a bureau's random draw, so an officer records them only within his bureau's
jurisdiction (the city bureau's officers and city_admin anywhere), and each bureau numbers its
facts in a namespace of its own: another bureau's ids never swallow a fact.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime

from sqlalchemy import and_, exists, insert, or_, select

from infra.clock import local_date
from infra.domain import derived_id
from infra.errors import Conflict, Forbidden, Invalid
from infra.places import CITY_BUREAU, FTZ_BUREAU
from infra.repository import Repository
from infra.schemas import load
from services.licensing.domain.audit.commands import RegisterInspector
from services.licensing.domain.audit.events import RiskFactRecorded
from services.licensing.domain.audit.inspectors import Inspector
from services.licensing.domain.audit.risk import RiskFact
from services.licensing.projections import (
    RISK_FACTS_CITY_WIDE,
    audit_plans,
    inspectors,
    licences,
    risk_fact_row,
    risk_facts,
)
from services.licensing.projections import equipment as equipment_table
from services.licensing.schemas.audits import InspectorIn, RiskFactIn


def supervises(conn, bureau: str, uscc: str) -> bool:
    """Whether ``bureau`` supervises ``uscc``: it holds a licence the bureau issued or acts on,
    or uses or maintains a unit the bureau supervises (through the unit's certificate, or, for
    a unit without one, its place: ``FTZ`` inside the zone, else the district's bureau)."""
    lic, eq = licences.c, equipment_table.c
    licensee = exists().where(
        lic.holder_uscc == uscc, or_(lic.bureau == bureau, lic.supervised_by == bureau)
    )
    certified = licences.alias("certificate")
    place = (
        eq.in_ftz.is_(True)
        if bureau == FTZ_BUREAU
        else and_(eq.in_ftz.is_(False), eq.district == bureau)
    )
    unit = (
        select(eq.equipment_code)
        .select_from(equipment_table.outerjoin(certified, certified.c.licence_no == eq.licence_no))
        .where(
            or_(eq.user_uscc == uscc, eq.maintenance_unit_uscc == uscc),
            or_(
                certified.c.supervised_by == bureau,
                and_(certified.c.licence_no.is_(None), place),
            ),
        )
        .exists()
    )
    return bool(conn.execute(select(or_(licensee, unit))).scalar())


class AuditRegisters:
    def __init__(self, repo: Repository, now: datetime):
        self.repo, self.now = repo, now
        self.today = local_date(now)

    @property
    def conn(self):
        return self.repo.conn

    # --- inspectors ---------------------------------------------------------------------

    def register_inspector(self, body: dict, bureau: str | None) -> dict:
        data = load(InspectorIn, body, "inspector")
        bureau = bureau or data.get("bureau")
        if not bureau:
            raise Invalid("which bureau?", {"bureau": ["required for a city-wide token"]})
        inspector = self.repo.load(Inspector, data["inspector_id"])
        self.repo.decide_and_save(
            data["inspector_id"],
            inspector,
            RegisterInspector(
                actor=self.repo.actor,
                inspector_id=data["inspector_id"],
                bureau=bureau,
                name=data["name"],
                organization_uscc=data["organization_uscc"],
            ),
            self.now,
        )
        return {
            "inspector_id": inspector.inspector_id,
            "bureau": inspector.bureau,
            "name": inspector.name,
            "organization_uscc": inspector.organization_uscc,
        }

    def list_inspectors(
        self, bureau: str | None, limit: int = 50, after: list | None = None
    ) -> list[dict]:
        """A bureau's inspectors (every bureau's without one), by bureau and id."""
        c = inspectors.c
        q = select(c.inspector_id, c.bureau, c.name, c.organization_uscc)
        if bureau:
            q = q.where(c.bureau == bureau)
        if after:
            q = q.where(
                or_(c.bureau > after[0], and_(c.bureau == after[0], c.inspector_id > after[1]))
            )
        rows = self.conn.execute(q.order_by(c.bureau, c.inspector_id).limit(limit)).mappings()
        return [dict(r) for r in rows]

    # --- risk facts ---------------------------------------------------------------------

    def record_risk_fact(self, body: dict, bureau: str | None = None) -> dict:
        """Record a risk fact as an officer of ``bureau`` (None: city-wide). The fact id is
        the bureau's own: the same id and fact again is stored once (``recorded: false``), the
        same id for another fact of the bureau is refused (409)."""
        data = load(RiskFactIn, body, "risk fact")
        if data["type"] == "credit_grade" and not data.get("grade"):
            raise Invalid("a grade is needed", {"grade": ["required for credit_grade"]})
        if bureau and bureau != CITY_BUREAU and not supervises(self.conn, bureau, data["uscc"]):
            raise Forbidden(
                f"{data['uscc']} holds no licence of {bureau} and uses or maintains no unit it "
                "supervises: its risk facts are another bureau's to record"
            )
        namespace = bureau or RISK_FACTS_CITY_WIDE
        fact = RiskFact(
            data["fact_id"],
            data["uscc"],
            data["type"],
            date.fromisoformat(data["occurred_on"]),
            data.get("grade"),
        )
        recorded = not self._recorded_already(namespace, fact) and self._append(namespace, fact)
        return {
            **fact.row(),
            "occurred_on": fact.occurred_on.isoformat(),
            "bureau": namespace,
            "recorded": recorded,
        }

    def _recorded_already(self, namespace: str, fact: RiskFact) -> bool:
        """Whether the bureau recorded this fact under its id already (a retry); another fact
        under the same id is a conflict."""
        c = risk_facts.c
        row = self.conn.execute(
            select(risk_facts).where(c.bureau == namespace, c.fact_id == fact.fact_id)
        ).first()
        if row is None:
            return False
        if (row.uscc, row.type, row.occurred_on, row.grade) != (
            fact.uscc,
            fact.type,
            fact.occurred_on,
            fact.grade,
        ):
            raise Conflict(
                f"fact id {fact.fact_id} of {namespace} names another fact "
                f"({row.type} of {row.uscc} on {row.occurred_on.isoformat()})"
            )
        return True

    def _append(self, namespace: str, fact: RiskFact) -> bool:
        event = RiskFactRecorded(
            at=self.now,
            actor=self.repo.actor,
            fact_id=fact.fact_id,
            bureau=namespace,
            uscc=fact.uscc,
            fact_type=fact.type,
            occurred_on=fact.occurred_on,
            grade=fact.grade,
        )
        event_id = derived_id("risk", namespace, fact.fact_id)
        stored = self.repo.append_fact(f"risk-{fact.uscc}", event, event_id)
        if stored:
            self.conn.execute(insert(risk_facts).values(**risk_fact_row(event.to_data())))
        return stored

    # --- plans --------------------------------------------------------------------------

    def list_plans(self, filters: dict, limit: int = 50, after: list | None = None) -> list[dict]:
        """Plans, newest first: ``bureau``, ``kind``, ``year`` filters; each with its targets'
        outcomes counted (the plan itself: ``GET /v1/audits/{id}``)."""
        c = audit_plans.c
        q = select(c.id, c.bureau, c.kind, c.seed, c.drawn_on, c.targets, c.results)
        for name in ("bureau", "kind"):
            if filters.get(name):
                q = q.where(c[name] == filters[name])
        if filters.get("year"):
            year = int(filters["year"])
            q = q.where(c.drawn_on.between(date(year, 1, 1), date(year, 12, 31)))
        if after:
            on = date.fromisoformat(after[0])
            q = q.where(or_(c.drawn_on < on, and_(c.drawn_on == on, c.id > after[1])))
        rows = self.conn.execute(q.order_by(c.drawn_on.desc(), c.id).limit(limit)).all()
        return [
            {
                "id": r.id,
                "bureau": r.bureau,
                "kind": r.kind,
                "seed": int(r.seed),
                "drawn_on": r.drawn_on.isoformat(),
                "target_count": r.targets,
                "outcomes": dict(
                    sorted(Counter(t["outcome"] for t in json.loads(r.results)["targets"]).items())
                ),
            }
            for r in rows
        ]
