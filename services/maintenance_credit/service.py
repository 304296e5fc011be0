"""Maintenance-credit service: quality facts, versioned rule sets, scores, evaluations and
appeals (DOMAIN.md "Maintenance-quality credit", API.md "Credit").

Thin wiring: who is scored comes from licensing's events (``intake``), serious-violation
listings (veto facts) from the blacklist's (``intake``), facts recorded over
the API in ``records``, evaluations and appeals in ``evaluations``, reads in ``reads``, the
missed-maintenance sweep in ``sweeps``; rules in ``domain``, ``rules`` and ``scoring``, read
models in ``projections``.
"""

from __future__ import annotations

from pathlib import Path

from nameko.extensions import DependencyProvider

from infra.bus.dependencies import ServiceDatabase, UnitOfWork
from infra.bus.entrypoints import IncomingEvent, rpc, subscribe, timer
from infra.service import KernelService
from services.licensing.calendar import WorkingCalendar
from services.maintenance_credit import (
    complaints,
    evaluations,
    intake,
    reads,
    records,
    ruleset_versions,
    standings,
)
from services.maintenance_credit.projections import KINDS, READ_MODELS
from services.maintenance_credit.sweeps import MISSED_MAINTENANCE

MIGRATIONS = Path(__file__).parent / "migrations"
# A snapshot of an elevator every 12 of its events (half a year of visits): a batch of
# records loads at most 12 events of each elevator after its snapshot, however long its
# history (kinds taking snapshots: ``projections.KINDS``).
SNAPSHOT_EVERY = 12


class Calendar(DependencyProvider):
    """The working-day calendar (shipped holidays plus ``SESP_HOLIDAYS_DIR``), read once."""

    def setup(self) -> None:
        self.calendar = WorkingCalendar.from_environment()

    def get_dependency(self, worker_ctx) -> WorkingCalendar:
        return self.calendar


class MaintenanceCreditService(KernelService):
    name = "maintenance_credit"
    db: UnitOfWork = ServiceDatabase(migrations=MIGRATIONS, snapshot_every=SNAPSHOT_EVERY)
    kinds = KINDS
    read_models = READ_MODELS
    calendar = Calendar()

    # -- who is scored, from licensing ---------------------------------------------------

    @subscribe("licensing")
    def on_licensing_event(self, event: IncomingEvent) -> None:
        intake.observe(self.repository(), event, self.clock.now())

    # -- serious-violation listings, from the blacklist (veto facts) -----------------------

    @subscribe("blacklist")
    def on_blacklist_event(self, event: IncomingEvent) -> None:
        intake.observe_blacklist(self.repository(), event, self.clock.now())

    # -- facts ---------------------------------------------------------------------------

    @rpc
    def record_maintenance(self, uscc: str, body: dict) -> dict:
        """A unit's batch of maintenance records: one result per rejected record."""
        return records.record_maintenance(self.repository(), self.clock.now(), uscc, body)

    @rpc
    def record_quality_event(self, body: dict, bureau: str | None = None) -> dict:
        """An officer's quality event (``status`` 201 new, 200 a duplicate)."""
        return records.record_quality_event(self.repository(), self.clock.now(), body, bureau)

    # -- evaluations and appeals ---------------------------------------------------------

    @rpc
    def publish_evaluation(self, body: dict, command_id: str | None = None) -> dict:
        repo, now = self.repository(), self.clock.now()
        return evaluations.publish(repo, now, self.calendar, body, command_id)

    @rpc
    def finalize_evaluation(self, evaluation_id: str, command_id: str | None = None) -> dict:
        repo, now = self.repository(), self.clock.now()
        return evaluations.finalize(repo, now, evaluation_id, command_id)

    @rpc
    def file_appeal(self, uscc: str, body: dict, command_id: str | None = None) -> dict:
        repo, now = self.repository(), self.clock.now()
        return evaluations.file_appeal(repo, now, uscc, body, command_id)

    @rpc
    def decide_appeal(
        self,
        appeal_id: str,
        body: dict,
        bureau: str | None = None,
        command_id: str | None = None,
    ) -> dict:
        repo, now = self.repository(), self.clock.now()
        return evaluations.decide_appeal(repo, now, appeal_id, body, bureau, command_id)

    @rpc
    def get_appeal(self, appeal_id: str) -> dict:
        return evaluations.get_appeal(self.repository(), appeal_id)

    @rpc
    def get_evaluation(self, evaluation_id: str) -> dict:
        return evaluations.get_evaluation(self.repository(), evaluation_id)

    # -- complaints from the public -------------------------------------------------------

    @rpc
    def submit_complaint(self, body: dict, command_id: str | None = None) -> dict:
        repo, now = self.repository(), self.clock.now()
        return complaints.submit(repo, now, body, command_id)

    @rpc
    def complaint_status(self, reference: str) -> dict:
        return complaints.public_status(self.db.conn, reference)

    @rpc
    def complaint_queue(
        self,
        bureau: str | None = None,
        filters: dict | None = None,
        limit: int = 51,
        after: list | None = None,
    ) -> list[dict]:
        return complaints.queue(self.repository(), bureau, filters, limit, after)

    @rpc
    def decide_complaint(
        self,
        reference: str,
        body: dict,
        bureau: str | None = None,
        command_id: str | None = None,
    ) -> dict:
        repo, now = self.repository(), self.clock.now()
        return complaints.decide(repo, now, reference, body, bureau, command_id)

    # -- reads ---------------------------------------------------------------------------

    @rpc
    def unit_credit(self, uscc: str, as_of: str | None = None) -> dict:
        return reads.unit_detail(self.db.conn, self.clock, uscc, as_of)

    @rpc
    def unit_history(self, uscc: str) -> dict:
        return reads.history(self.db.conn, self.clock, uscc)

    @rpc
    def final_grade(self, uscc: str) -> dict:
        """A unit's name and latest final grade (null before its first final evaluation)."""
        return reads.final_grade(self.db.conn, uscc)

    @rpc
    def list_units(self, limit: int = 50, after: list | None = None) -> list[dict]:
        return reads.units(self.db.conn, limit, after)

    @rpc
    def public_credit(
        self, filters: dict | None = None, limit: int = 51, after: list | None = None
    ) -> list[dict]:
        return reads.public_credit(self.db.conn, filters, limit, after)

    @rpc
    def list_rulesets(self) -> list[dict]:
        return ruleset_versions.list_rulesets(self.db.conn)

    @rpc
    def adopt_ruleset(self, body: dict, command_id: str | None = None) -> dict:
        """A new rule-set version, in force from a future day."""
        return ruleset_versions.adopt(self.repository(), self.clock.now(), body, command_id)

    @rpc
    def what_if(self, version: str, body: dict | None = None) -> dict:
        """Which units would change grade under ``version``."""
        return ruleset_versions.what_if(self.db.conn, self.clock.now(), version, body)

    # -- time-driven rules ---------------------------------------------------------------

    @timer(interval=60)
    def sweep(self) -> dict:
        return self.sweep_now()

    @rpc
    def sweep_now(self) -> dict:
        """Record the half-monthly windows that ended without maintenance, then bring a batch
        of units' standings up to date (one bounded pass of each; idempotent)."""
        repo, now = self.repository(), self.clock.now()
        missed = MISSED_MAINTENANCE.run(repo, now)
        return {"missed": missed, "standings": standings.ROLLING.run(repo, now)}
