"""Blacklist service: public listings of maintenance units and the exit by credit repair
(DOMAIN.md "Public blacklist", API.md "Blacklist").

Thin wiring: listings come from the credit service's events and licensing's (``intake``) and
from the city bureau (``listings``); reads in ``reads``; rules in ``domain``, rows in
``projections``. A sweep takes off what is due (a granted repair at the end of its management
period, publication at its end).
"""

from __future__ import annotations

from pathlib import Path

from infra.bus.dependencies import ServiceDatabase, UnitOfWork
from infra.bus.entrypoints import IncomingEvent, rpc, subscribe, timer
from infra.service import KernelService
from infra.sweep import Sweep
from services.blacklist import domain, intake, listings, reads
from services.blacklist.projections import KINDS, READ_MODELS, units_due

MIGRATIONS = Path(__file__).parent / "migrations"

REMOVAL = Sweep("removal", domain.Unit, units_due, domain.remove_due, dated=True)


class BlacklistService(KernelService):
    name = "blacklist"
    db: UnitOfWork = ServiceDatabase(migrations=MIGRATIONS)
    kinds = KINDS
    read_models = READ_MODELS

    # -- listings from other services' events -------------------------------------------

    @subscribe("maintenance_credit")
    def on_credit_event(self, event: IncomingEvent) -> None:
        intake.observe_credit(self.repository(), event, listings.terms_from_environment())

    @subscribe("licensing")
    def on_licensing_event(self, event: IncomingEvent) -> None:
        intake.observe_licensing(self.repository(), event, listings.terms_from_environment())

    # -- commands ------------------------------------------------------------------------

    @rpc
    def list_unit(self, body: dict, command_id: str | None = None) -> dict:
        """The city bureau's listing (serious-violation list)."""
        terms = listings.terms_from_environment()
        return listings.list_manually(self.repository(), self.clock.now(), terms, body, command_id)

    @rpc
    def apply_for_repair(
        self,
        listing_id: str,
        body: dict,
        uscc: str | None = None,
        command_id: str | None = None,
    ) -> dict:
        repo, now = self.repository(), self.clock.now()
        return listings.apply_for_repair(repo, now, listing_id, body, uscc, command_id)

    @rpc
    def record_reinspection(
        self, application_id: str, body: dict, command_id: str | None = None
    ) -> dict:
        repo, now = self.repository(), self.clock.now()
        return listings.record_reinspection(repo, now, application_id, body, command_id)

    @rpc
    def decide_repair(self, application_id: str, body: dict, command_id: str | None = None) -> dict:
        repo, now = self.repository(), self.clock.now()
        return listings.decide_repair(repo, now, application_id, body, command_id)

    # -- reads ---------------------------------------------------------------------------

    @rpc
    def public_blacklist(
        self, filters: dict | None = None, limit: int = 51, after: list | None = None
    ) -> list[dict]:
        return reads.public_blacklist(self.db.conn, filters, limit, after)

    @rpc
    def public_blacklist_csv(self, filters: dict | None = None, after: list | None = None) -> dict:
        return reads.public_blacklist_csv(self.db.conn, filters, after)

    @rpc
    def unit_listings(self, uscc: str) -> dict:
        return reads.unit_listings(self.db.conn, uscc)

    @rpc
    def unit_listed(self, uscc: str) -> dict:
        """Whether a unit is listed now (``listed``), with its name (null if never listed)."""
        return reads.unit_listed(self.db.conn, uscc)

    @rpc
    def public_state(self) -> str:
        """A mark that moves with every change to the public list (the CSV's ETag)."""
        return reads.public_state(self.db.conn)

    # -- time-driven rules ---------------------------------------------------------------

    @timer(interval=60)
    def sweep(self) -> dict:
        return self.sweep_now()

    @rpc
    def sweep_now(self) -> dict:
        """Take off the listings due by today (one bounded pass; idempotent)."""
        return {"removed": REMOVAL.run(self.repository(), self.clock.now())}
