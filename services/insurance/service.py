"""Insurance service: insurer policy sync, coverage, premium factors, reminders.

Thin wiring: validation in ``schemas``, decisions in ``domain``, read models in ``projections``.
Every read model is a fold of this service's own store: events consumed from licensing are
recorded here too (stream ``licensing:<stream>``, same event id), so ``replay`` rebuilds all.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import cast

import eventlet
from marshmallow import ValidationError
from sqlalchemy import and_, delete, exists, func, select

from infra.bus.dependencies import ServiceDatabase, UnitOfWork
from infra.bus.entrypoints import IncomingEvent, rpc, subscribe, timer
from infra.errors import Invalid, NotFound
from infra.eventstore import ConcurrencyError, NewEvent
from infra.service import KernelService
from services.insurance import domain
from services.insurance.projections import (
    ALL_TABLES,
    equipment_register,
    policies,
    policy_equipment,
    project,
    project_many,
)
from services.insurance.schemas import flatten_errors, load_policy

MIGRATIONS = Path(__file__).parent / "migrations"
EQUIPMENT_EVENTS = {
    "EquipmentRegistered",
    "EquipmentChanged",
    "EquipmentSuspended",
    "EquipmentResumed",
    "EquipmentCancelled",
}
SWEEP_BATCH = 500
# A pushed policy that passed validation: (index in the batch, policy_no, revision, terms).
_Decided = tuple[int, str, int, domain.Terms]


class InsuranceService(KernelService):
    name = "insurance"
    db: UnitOfWork = ServiceDatabase(migrations=MIGRATIONS)

    # -- equipment register, from licensing ----------------------------------------------

    @subscribe("licensing")
    def on_licensing_event(self, event: IncomingEvent) -> None:
        if event.type not in EQUIPMENT_EVENTS:
            return
        stored = self.db.append(
            f"licensing:{event.stream_id}",
            None,
            [
                NewEvent(
                    f"licensing.{event.type}",
                    event.data,
                    event_id=event.event_id,
                    occurred_at=event.occurred_at,
                )
            ],
            {**event.meta, "causation_id": event.event_id, "observed_from": event.service},
        )
        for ev in stored:
            project(self.db.conn, ev)

    # -- policy sync ---------------------------------------------------------------------

    @rpc
    def sync_policies(self, insurer: str, items: list[dict]) -> list[dict]:
        """Apply pushed policies, each on its own (one bad policy never blocks the others).

        ``items``: ``[{"policy_no", ...policy fields}]``. Returns one result per item:
        ``{"policy_no", "status": 201|200|409|422, "errors"?, "detail"?, "version"?}``.
        """
        conn = self.db.conn
        nos = [i.get("policy_no") for i in items if isinstance(i, dict)]
        current = {
            r.policy_no: r
            for r in conn.execute(
                select(
                    policies.c.policy_no,
                    policies.c.revision,
                    policies.c.digest,
                    policies.c.version,
                    policies.c.terms,
                ).where(policies.c.insurer == insurer, policies.c.policy_no.in_(nos))
            )
        }
        meta = self.ctx.meta()
        results: list[dict | None] = [None] * len(items)
        decided: list[_Decided] = []
        for index, item in enumerate(items):
            policy_no = item.get("policy_no") if isinstance(item, dict) else None
            try:
                data = load_policy(item, with_policy_no=True)
            except ValidationError as exc:
                results[index] = {
                    "index": index,
                    "policy_no": policy_no,
                    "status": 422,
                    "errors": flatten_errors(exc.messages),
                }
                continue
            policy_no = data.pop("policy_no")
            revision = data.pop("revision")
            decided.append((index, policy_no, revision, domain.Terms.from_dict(data)))
        # A batch may name one policy twice (two revisions): each round holds a policy once,
        # and a later round decides on what the earlier one wrote.
        while decided:
            seen: set[str] = set()
            this_round: list[_Decided] = []
            decided_next: list[_Decided] = []
            for entry in decided:
                (this_round if entry[1] not in seen else decided_next).append(entry)
                seen.add(entry[1])
            self._sync_round(insurer, this_round, current, meta, results)
            decided = decided_next
        return cast(list[dict], results)  # every item got its result by now

    def _sync_round(self, insurer, entries, current, meta, results) -> None:
        """Decide on each policy, then write every change in a few statements.

        ``current`` maps a policy number to its read-model row, or to its decision state once
        this batch has written it (a later round then decides on that)."""
        conn = self.db.conn
        appends, changes = [], []
        for index, policy_no, revision, terms in entries:
            policy = current.get(policy_no)
            if not isinstance(policy, domain.Policy):
                policy = _state(insurer, policy_no, policy)
            try:
                outcome, events = policy.sync(revision, terms)
            except domain.StaleRevision as exc:
                results[index] = {
                    "index": index,
                    "policy_no": policy_no,
                    "status": 409,
                    "detail": str(exc),
                    "version": policy.version,
                }
                continue
            if not events:
                results[index] = {
                    "index": index,
                    "policy_no": policy_no,
                    "status": 200,
                    "outcome": outcome,
                    "version": policy.version,
                }
                continue
            appends.append(
                (
                    domain.stream_id(insurer, policy_no),
                    policy.version,
                    [NewEvent(e.type, e.to_data()) for e in events],
                )
            )
            changes.append((index, policy_no, outcome, policy, events))
        if not appends:
            return
        written = self.db.store.append_many(conn, appends, meta)
        stored = []
        digests: dict[str, str] = {}
        for (index, policy_no, outcome, policy, events), got in zip(changes, written, strict=True):
            if isinstance(got, ConcurrencyError) or not got:
                results[index] = {
                    "index": index,
                    "policy_no": policy_no,
                    "status": 409,
                    "detail": "the policy was changed concurrently",
                }
                continue
            stored.extend(got)
            for event in events:
                policy.apply(event)  # the terms' digest is computed once, here
            current[policy_no] = policy
            digests[got[-1].event_id] = policy.digest
            results[index] = {
                "index": index,
                "policy_no": policy_no,
                "status": 201 if outcome == "created" else 200,
                "outcome": outcome,
                "version": policy.version,
            }
        project_many(conn, stored, digests)

    # -- reads ---------------------------------------------------------------------------

    @rpc
    def get_policy(self, policy_no: str, insurer: str | None = None) -> dict:
        """One policy with its elevators and how each matched the register.

        ``insurer`` narrows (and, for an insurer caller, scopes) the look-up; without it a
        policy number held by two insurers is ambiguous.
        """
        q = select(policies).where(policies.c.policy_no == policy_no)
        if insurer:
            q = q.where(policies.c.insurer == insurer)
        rows = self.db.conn.execute(q).mappings().all()
        if not rows:
            raise NotFound(f"policy {policy_no} not found")
        if len(rows) > 1:
            raise Invalid(
                "several insurers use this policy number",
                {"insurer": ["give the insurer's credit code"]},
            )
        return self._policy_view(rows[0])

    def _policy_view(self, row) -> dict:
        terms = json.loads(row["terms"])
        reg = {
            r.equipment_code: r.status
            for r in self.db.conn.execute(
                select(equipment_register.c.equipment_code, equipment_register.c.status).where(
                    equipment_register.c.equipment_code.in_(terms["equipment_codes"])
                )
            )
        }
        equipment = []
        for code in terms["equipment_codes"]:
            entry = {"equipment_code": code, "match": "registered" if code in reg else "pending"}
            if reg.get(code) == "cancelled":
                entry["flag"] = "equipment_cancelled"
            equipment.append(entry)
        return {
            "policy_no": row["policy_no"],
            "insurer": row["insurer"],
            "revision": row["revision"],
            "version": row["version"],
            **terms,
            "status": row["status"],
            "equipment": equipment,
        }

    @rpc
    def coverage(self, equipment_code: str, on: str | None = None) -> dict:
        """Whether an elevator was covered on a date, with the policies that cover it."""
        day = date.fromisoformat(on) if on else self.clock.today()
        rows = (
            self.db.conn.execute(
                select(policies)
                .join(
                    policy_equipment,
                    and_(
                        policy_equipment.c.insurer == policies.c.insurer,
                        policy_equipment.c.policy_no == policies.c.policy_no,
                    ),
                )
                .where(policy_equipment.c.equipment_code == equipment_code, _covers(day))
                .order_by(policies.c.starts_on)
            )
            .mappings()
            .all()
        )
        return {
            "equipment_code": equipment_code,
            "on": day.isoformat(),
            "covered": bool(rows),
            "policies": [
                {
                    "insurer": r["insurer"],
                    "policy_no": r["policy_no"],
                    "cover": r["cover"],
                    "starts_on": r["starts_on"].isoformat(),
                    "ends_on": r["ends_on"].isoformat(),
                    "status": r["status"],
                }
                for r in rows
            ],
        }

    @rpc
    def district_coverage(self, district: str, on: str | None = None) -> dict:
        """Registered elevators of a district, how many are covered on the date, the ratio."""
        day = date.fromisoformat(on) if on else self.clock.today()
        elevators = equipment_register.alias("e")
        is_covered = exists(
            select(1)
            .select_from(
                policy_equipment.join(
                    policies,
                    and_(
                        policy_equipment.c.insurer == policies.c.insurer,
                        policy_equipment.c.policy_no == policies.c.policy_no,
                    ),
                )
            )
            .where(policy_equipment.c.equipment_code == elevators.c.equipment_code, _covers(day))
        )
        base = (
            select(func.count())
            .select_from(elevators)
            .where(
                elevators.c.district == district,
                elevators.c.status != "cancelled",
                elevators.c.equipment_code.like("3%"),
            )
        )
        total = self.db.conn.execute(base).scalar() or 0
        covered = self.db.conn.execute(base.where(is_covered)).scalar() or 0
        return {
            "district": district,
            "on": day.isoformat(),
            "elevators": total,
            "covered": covered,
            "ratio": round(covered / total, 4) if total else None,
        }

    @rpc
    def policies_ending(self, within_days: int, insurer: str | None = None) -> list[dict]:
        """Active policies whose period ends within N days from today (officers' list)."""
        today = self.clock.today()
        q = (
            select(policies)
            .where(
                policies.c.status == "active",
                policies.c.ends_on >= today,
                policies.c.ends_on <= today + timedelta(days=within_days),
            )
            .order_by(policies.c.ends_on, policies.c.insurer, policies.c.policy_no)
        )
        if insurer:
            q = q.where(policies.c.insurer == insurer)
        return [
            {
                "insurer": r["insurer"],
                "policy_no": r["policy_no"],
                "ends_on": r["ends_on"].isoformat(),
                "revision": r["revision"],
            }
            for r in self.db.conn.execute(q.limit(5000)).mappings()
        ]

    @rpc
    def premium_factors(self, equipment_code: str) -> dict:
        """Factors an insurer may price on. The credit grade, faults and entrapments come from
        the maintenance-credit service, which publishes nothing yet: they are null until then."""
        row = (
            self.db.conn.execute(
                select(equipment_register).where(
                    equipment_register.c.equipment_code == equipment_code
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"equipment {equipment_code} is not in the register")
        year = row["manufacture_year"]
        return {
            "equipment_code": equipment_code,
            "maintenance_unit_uscc": row["maintenance_unit_uscc"],
            "credit_grade": None,
            "age_years": (self.clock.today().year - year) if year else None,
            "faults_12m": None,
            "entrapments_12m": None,
        }

    @rpc
    def equipment(self, equipment_code: str) -> dict:
        row = (
            self.db.conn.execute(
                select(equipment_register).where(
                    equipment_register.c.equipment_code == equipment_code
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"equipment {equipment_code} is not known to insurance")
        return {**row, "registered_on": row["registered_on"] and row["registered_on"].isoformat()}

    @rpc
    def register_stats(self) -> dict:
        """How many elevators the register holds, and how many registration effects applied."""
        n, applied = self.db.conn.execute(
            select(func.count(), func.coalesce(func.sum(equipment_register.c.applied), 0))
        ).one()
        return {"elevators": n, "applied": int(applied)}

    # -- time-driven rules ---------------------------------------------------------------

    @timer(interval=30)
    def sweep(self) -> dict:
        return self.sweep_now()

    @rpc
    def sweep_now(self) -> dict:
        """Reminders 3 days before a policy ends, and lapse after it ends. Idempotent."""
        today = self.clock.today()
        conn = self.db.conn
        due = (
            conn.execute(
                select(policies)
                .where(
                    policies.c.status == "active",
                    policies.c.ends_on <= today + timedelta(days=domain.REMINDER_DAYS),
                )
                .order_by(policies.c.ends_on)
                .limit(SWEEP_BATCH)
            )
            .mappings()
            .all()
        )
        meta = self.ctx.meta()
        reminded = lapsed = 0
        for row in due:
            policy = _state(row["insurer"], row["policy_no"], row)
            policy.reminded_for = row["reminded_for"] and row["reminded_for"].isoformat()
            events = policy.due_lapse(today) or policy.due_reminder(today)
            if not events:
                continue
            with conn.begin_nested():
                for ev in self.db.append(
                    domain.stream_id(policy.insurer, policy.policy_no),
                    policy.version,
                    [NewEvent(e.type, e.to_data()) for e in events],
                    meta,
                ):
                    project(conn, ev)
            lapsed += sum(isinstance(e, domain.PolicyLapsed) for e in events)
            reminded += sum(isinstance(e, domain.PolicyEndingSoon) for e in events)
        return {"reminded": reminded, "lapsed": lapsed}

    # -- rebuild -------------------------------------------------------------------------

    @rpc
    def replay(self) -> dict:
        """Rebuild every read model from this service's own events (same code as live)."""
        conn = self.db.conn
        self.progress.begin(self.db.store.count(conn))
        try:
            for table in ALL_TABLES:
                conn.execute(delete(table))
            n = 0
            for ev in self.db.store.iter_all(conn):
                project(conn, ev)
                n += 1
                if n % 500 == 0:
                    self.progress.at(n)
                    eventlet.sleep()  # let replay_progress and other workers answer
            self.progress.at(n)
        finally:
            self.progress.end()
        return {"events": n}

    @rpc
    def read_model_digest(self) -> dict:
        """A digest of every read model, to compare a rebuild with the live state."""
        import hashlib

        out = {}
        for table in ALL_TABLES:
            cols = [c for c in table.c if c.name not in ("updated_at",)]
            rows = self.db.conn.execute(select(*cols).order_by(*table.primary_key.columns)).all()
            out[table.name] = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
        return out


def _state(insurer: str, policy_no: str, row) -> domain.Policy:
    """The aggregate's decision state from its read-model row (same transaction as events)."""
    policy = domain.Policy(insurer, policy_no)
    if row is not None:
        row = row._mapping if hasattr(row, "_mapping") else row
        policy.revision, policy.digest, policy.version = (
            row["revision"],
            row["digest"],
            row["version"],
        )
        policy.terms = domain.Terms.from_dict(json.loads(row["terms"]))
        if "status" in row:
            policy.lapsed = row["status"] == "lapsed"
    return policy


def _covers(day: date):
    # Cancelled policies cover nothing; a lapsed one covered its own period.
    return and_(
        policies.c.status.in_(["active", "lapsed"]),
        policies.c.starts_on <= day,
        policies.c.ends_on >= day,
    )
