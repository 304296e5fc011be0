"""Insurance service: insurer policy sync, coverage, premium factors, reminders.

Thin wiring: the batch sync is in ``sync``, the read RPCs in ``reads`` (same names); validation
in ``schemas``, decisions in ``domain``, read models in ``projections``.
Every read model is a fold of this service's own store: events consumed from licensing are
recorded here too (stream ``licensing:<stream>``, same event id), so ``replay`` rebuilds all.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import eventlet
from sqlalchemy import delete, select

from infra.bus.dependencies import ServiceDatabase, UnitOfWork
from infra.bus.entrypoints import IncomingEvent, rpc, subscribe, timer
from infra.eventstore import NewEvent
from infra.service import KernelService
from services.insurance import domain, reads, sync
from services.insurance.projections import ALL_TABLES, policies, project

MIGRATIONS = Path(__file__).parent / "migrations"
EQUIPMENT_EVENTS = {
    "EquipmentRegistered",
    "EquipmentChanged",
    "EquipmentSuspended",
    "EquipmentResumed",
    "EquipmentCancelled",
}
SWEEP_BATCH = 500


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
        return sync.sync_policies(self.db, insurer, items, self.ctx.meta())

    # -- reads ---------------------------------------------------------------------------

    @rpc
    def get_policy(self, policy_no: str, insurer: str | None = None) -> dict:
        return reads.get_policy(self.db, policy_no, insurer)

    @rpc
    def coverage(self, equipment_code: str, on: str | None = None) -> dict:
        return reads.coverage(self.db, self.clock, equipment_code, on)

    @rpc
    def district_coverage(self, district: str, on: str | None = None) -> dict:
        return reads.district_coverage(self.db, self.clock, district, on)

    @rpc
    def policies_ending(self, within_days: int, insurer: str | None = None) -> list[dict]:
        return reads.policies_ending(self.db, self.clock, within_days, insurer)

    @rpc
    def premium_factors(self, equipment_code: str) -> dict:
        return reads.premium_factors(self.db, self.clock, equipment_code)

    @rpc
    def equipment(self, equipment_code: str) -> dict:
        return reads.equipment(self.db, equipment_code)

    @rpc
    def register_stats(self) -> dict:
        return reads.register_stats(self.db)

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
            policy = sync.policy_state(row["insurer"], row["policy_no"], row)
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
