"""Insurance service: insurer policy sync, coverage, premium factors, reminders.

Thin wiring: the batch sync is in ``sync``, the read RPCs in ``reads`` (same names), the
time-driven rules in ``sweeps``; validation in ``schemas``, decisions in ``domain``, read
models in ``projections``. Every read model is a fold of this service's own store: events
consumed from licensing and the maintenance-credit service are recorded here too (stream
``<source>:<stream>``, same event id), so the inherited ``replay`` rebuilds all of them.
"""

from __future__ import annotations

from pathlib import Path

from infra.bus.dependencies import ServiceDatabase, UnitOfWork
from infra.bus.entrypoints import IncomingEvent, rpc, subscribe, timer
from infra.eventstore import NewEvent
from infra.service import KernelService
from services.insurance import credit, quotes, reads, sync
from services.insurance.projections import (
    EQUIPMENT_FACTS,
    KINDS,
    OBSERVED_PREFIX,
    READ_MODELS,
)
from services.insurance.sweeps import LAPSES, REMINDERS

MIGRATIONS = Path(__file__).parent / "migrations"


class InsuranceService(KernelService):
    name = "insurance"
    db: UnitOfWork = ServiceDatabase(migrations=MIGRATIONS)
    kinds = KINDS
    read_models = READ_MODELS

    # -- equipment register, from licensing ----------------------------------------------

    @subscribe("licensing")
    def on_licensing_event(self, event: IncomingEvent) -> None:
        if event.type not in EQUIPMENT_FACTS:
            return
        stored = self.db.append(
            f"licensing:{event.stream_id}",
            None,
            [
                NewEvent(
                    OBSERVED_PREFIX + event.type,
                    event.data,
                    event_id=event.event_id,
                    occurred_at=event.occurred_at,
                )
            ],
            {**event.meta, "causation_id": event.event_id, "observed_from": event.service},
        )
        for ev in stored:  # none when this event was stored already (a redelivery)
            READ_MODELS.project_fact(self.db.conn, ev)

    # -- final grades and elevator incidents, from the credit service ---------------------

    @subscribe("maintenance_credit")
    def on_credit_event(self, event: IncomingEvent) -> None:
        credit.observe(self.db, event)

    # -- policy sync ---------------------------------------------------------------------

    @rpc
    def sync_policies(self, insurer: str, items: list[dict]) -> list[dict]:
        """A batch of pushed policies: one result per item (see ``sync``)."""
        return sync.sync_policies(self.repository(), self.clock.now(), insurer, items)

    @rpc
    def sync_policy(self, insurer: str, item: dict, expected_version: int | None = None) -> dict:
        """One pushed policy; a refusal is raised as its kernel error (412 when
        ``expected_version`` is not the stored one)."""
        return sync.sync_policy(
            self.repository(), self.clock.now(), insurer, item, expected_version
        )

    @rpc
    def declare_quote(self, insurer: str, equipment_codes: list[str], valid_until: str) -> dict:
        """An insurer was asked to quote these elevators until ``valid_until`` (see
        ``quotes``)."""
        return quotes.declare(
            self.repository(), self.clock.now(), insurer, equipment_codes, valid_until
        )

    # -- reads ---------------------------------------------------------------------------

    @rpc
    def get_policy(self, policy_no: str, insurer: str | None = None) -> dict:
        return reads.get_policy(self.db, policy_no, insurer)

    @rpc
    def coverage(
        self, equipment_code: str, on: str | None = None, insurer: str | None = None
    ) -> dict:
        return reads.coverage(self.db, self.clock, equipment_code, on, insurer)

    @rpc
    def district_coverage(self, district: str, on: str | None = None) -> dict:
        return reads.district_coverage(self.db, self.clock, district, on)

    @rpc
    def policies_ending(
        self,
        within_days: int,
        insurer: str | None = None,
        limit: int = 501,
        after: list | None = None,
    ) -> list[dict]:
        return reads.policies_ending(self.db, self.clock, within_days, insurer, limit, after)

    @rpc
    def premium_factors(self, equipment_code: str, insurer: str | None = None) -> dict:
        return reads.premium_factors(self.db, self.clock, equipment_code, insurer)

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
        """Lapse what ended, remind what ends within 3 days (by the China date of the clock's
        now): one bounded pass of each sweep. Idempotent."""
        now, repo = self.clock.now(), self.repository()
        return {"lapsed": LAPSES.run(repo, now), "reminded": REMINDERS.run(repo, now)}
