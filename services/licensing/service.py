"""Licensing service: delegations, applications, licences, equipment register, audits.

Thin wiring: each RPC builds the use case of its area (``applications``, ``licences``,
``audits``, ``delegations``) on this worker's unit of work and returns its answer; the kernel's
entrypoints commit before replying. Rules live in ``domain``; read models in ``projections``.

Scope (which bureau or credit code a caller may see) is decided by the gateway; list methods
take the gateway's forced filters, single reads return what the gateway checks against.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from nameko.extensions import DependencyProvider

from infra.bus.dependencies import ServiceDatabase
from infra.bus.entrypoints import IncomingEvent, rpc, subscribe, timer
from infra.repository import Repository
from infra.service import KernelService
from infra.sweep import Sweep
from services.licensing import applications, audits, credit, delegations, licences
from services.licensing.applications import Applications
from services.licensing.audit_registers import AuditRegisters
from services.licensing.audits import Audits
from services.licensing.calendar import WorkingCalendar
from services.licensing.construction import check_construction
from services.licensing.domain.audit.rules import AuditRules
from services.licensing.domain.licence.rules import DEFAULT_RULES
from services.licensing.licences import Licensing
from services.licensing.projections import KINDS, READ_MODELS
from services.licensing.register import Register

MIGRATIONS = Path(__file__).parent / "migrations"
SWEEP_SECONDS = 5
log = logging.getLogger("sesp.licensing")


def _moment(as_of: str | None) -> datetime | None:
    """An ``as_of`` from the gateway (ISO text with an offset, validated there)."""
    return datetime.fromisoformat(as_of) if as_of else None


class Rules(DependencyProvider):
    """The working-day calendar (shipped holidays + ``SESP_HOLIDAYS_DIR``), the rule sets, and
    the time-driven sweeps built on them (one per container: each remembers where it stopped)."""

    def setup(self) -> None:
        self.calendar = WorkingCalendar.from_environment()
        self.licence = DEFAULT_RULES
        self.audit = AuditRules()
        self.sweeps: dict[str, Sweep] = {
            **applications.sweeps(self.calendar),
            "licences": licences.licence_sweep(self.licence),
            "audits": audits.audit_sweep(),
        }

    def get_dependency(self, worker_ctx) -> Rules:
        return self


class LicensingService(KernelService):
    name = "licensing"
    db = ServiceDatabase(migrations=MIGRATIONS)
    kinds = KINDS
    read_models = READ_MODELS
    rules = Rules()

    # --- wiring -----------------------------------------------------------------------

    def _licensing(self, repo: Repository | None = None) -> Licensing:
        return Licensing(repo or self.repository(), self.clock.now(), self.rules.licence)

    def _register(self) -> Register:
        return Register(self._licensing())

    def _applications(self) -> Applications:
        repo = self.repository()
        return Applications(repo, self.clock.now(), self.rules.calendar, self._licensing(repo))

    def _audits(self) -> Audits:
        return Audits(self.repository(), self.clock.now(), self.rules.audit)

    def _audit_registers(self) -> AuditRegisters:
        return AuditRegisters(self.repository(), self.clock.now())

    # --- final credit grades, from the maintenance-credit service (audit weights) -------

    @subscribe("maintenance_credit")
    def on_credit_event(self, event: IncomingEvent) -> None:
        credit.observe(self.db, event)

    # --- delegations ------------------------------------------------------------------

    @rpc
    def create_delegation(self, body: dict) -> dict:
        return delegations.grant(self.repository(), self.clock.now(), body)

    @rpc
    def revoke_delegation(
        self, delegation_id: str, body: dict, expected_version: int | None = None
    ) -> dict:
        return delegations.revoke(
            self.repository(), self.clock.now(), delegation_id, body, expected_version
        )

    @rpc
    def list_delegations(
        self,
        bureau: str | None = None,
        as_of: str | None = None,
        limit: int = 50,
        after: list | None = None,
    ) -> list[dict]:
        return delegations.listing(self.db.conn, self.clock.now(), bureau, as_of, limit, after)

    # --- applications -----------------------------------------------------------------

    @rpc
    def submit_application(self, body: dict) -> dict:
        """Receive an application, route it to its bureau; the intake clock starts."""
        apps = self._applications()
        return apps.submit(body, check_subject=self._check_subject(apps))

    def _check_subject(self, apps: Applications):
        def check(data: dict) -> None:
            if data["kind"] == "construction_notice":
                check_construction(apps.repo.conn, data)

        return check

    @rpc
    def application_command(
        self,
        application_id: str,
        command: str,
        body: dict | None = None,
        expected_version: int | None = None,
    ) -> dict:
        """One of the API's commands (``accept``, ``approve``, ...) -> the application."""
        return self._applications().command(application_id, command, body, expected_version)

    @rpc
    def get_application(self, application_id: str, as_of: str | None = None) -> dict:
        """The application now, or as it stood at ``as_of`` (ISO timestamp)."""
        return self._applications().get(application_id, _moment(as_of))

    @rpc
    def application_scope(self, application_id: str) -> dict:
        """Bureau, applicant credit code, status and version: what the gateway checks."""
        return self._applications().scope(application_id)

    @rpc
    def list_applications(
        self, filters: dict | None = None, limit: int = 50, after: list | None = None
    ) -> list[dict]:
        return self._applications().list(filters or {}, limit, after)

    @rpc
    def data_subject(self, id_number: str) -> dict:
        """The data-subject id under which a person's data is encrypted (for ``sesp erase``)."""
        return {"subject_id": self.repository().subject_id(id_number.strip().upper())}

    # --- licences and equipment -------------------------------------------------------

    @rpc
    def get_licence(self, licence_no: str, as_of: str | None = None) -> dict:
        """The licence now, or as it stood at ``as_of`` (ISO timestamp)."""
        return self._licensing().get(licence_no, _moment(as_of))

    @rpc
    def licence_scope(self, licence_no: str) -> dict:
        return self._licensing().scope(licence_no)

    @rpc
    def list_licences(
        self,
        filters: dict | None = None,
        limit: int = 50,
        after: list | None = None,
        names_for: str | None = None,
    ) -> list[dict]:
        """``filters``: ``holder`` (credit code or resident ID number), ``kind``, ``status``,
        ``bureau``; ``names_for``: the bureau whose persons' names show (``SH``: all)."""
        return self._licensing().list(filters or {}, limit, after, names_for)

    @rpc
    def licence_command(
        self,
        licence_no: str,
        command: str,
        body: dict | None = None,
        expected_version: int | None = None,
    ) -> dict:
        """``suspend``, ``reinstate``, ``revoke``, ``renewals``, ``renewal-decision``."""
        return self._licensing().command(licence_no, command, body, expected_version)

    @rpc
    def public_licences(
        self,
        holder: str | None = None,
        limit: int = 50,
        after: list | None = None,
        kind: str | None = None,
        licence_no: str | None = None,
    ) -> list[dict]:
        """Public decision records (no personal data), by holder, kind and licence number."""
        return self._licensing().public(holder, limit, after, kind, licence_no)

    @rpc
    def get_equipment(self, equipment_code: str, as_of: str | None = None) -> dict:
        """The unit now, or as it stood at ``as_of`` (ISO timestamp)."""
        return self._register().equipment(equipment_code, _moment(as_of))

    @rpc
    def equipment_scope(self, equipment_code: str) -> dict:
        """The bureau that supervises a unit, its status and version (what the gateway checks)."""
        return self._register().scope(equipment_code)

    @rpc
    def list_equipment(
        self, filters: dict | None = None, limit: int = 50, after: list | None = None
    ) -> list[dict]:
        """The register: ``district``, ``status``, ``in_ftz``, ``maintenance_unit_uscc``,
        ``user_uscc`` filters."""
        return self._register().list(filters or {}, limit, after)

    @rpc
    def equipment_command(
        self,
        equipment_code: str,
        command: str,
        body: dict | None = None,
        expected_version: int | None = None,
    ) -> dict:
        """``changes``, ``suspend``, ``resume``, ``cancel`` on a registered unit (through its
        certificate when one is in force)."""
        return self._register().command(equipment_code, command, body, expected_version)

    @rpc
    def register_equipment(
        self,
        equipment_code: str,
        district: str,
        in_ftz: bool = False,
        event_id: str | None = None,
        **details: Any,
    ) -> dict:
        """Record a use registration of one unit directly (demo data, tests): no application.
        ``details``: ``maintenance_unit_uscc``, ``user`` {uscc, name}, ``rated_speed_mps``,
        ``rated_load_kg``, ``licence_no``."""
        allowed = {
            "maintenance_unit_uscc",
            "user",
            "rated_speed_mps",
            "rated_load_kg",
            "licence_no",
            "address",
        }
        extra = {k: v for k, v in details.items() if k in allowed and v is not None}
        return self._register().register_directly(equipment_code, district, in_ftz, event_id, extra)

    # --- audits -----------------------------------------------------------------------

    @rpc
    def register_inspector(self, body: dict, bureau: str | None = None) -> dict:
        return self._audit_registers().register_inspector(body, bureau)

    @rpc
    def list_inspectors(
        self, bureau: str | None = None, limit: int = 50, after: list | None = None
    ) -> list[dict]:
        return self._audit_registers().list_inspectors(bureau, limit, after)

    @rpc
    def record_risk_fact(self, body: dict, bureau: str | None = None) -> dict:
        """``bureau``: the recording officer's (None: city-wide); it must supervise the unit
        or licensee the fact is about, and its fact ids are its own."""
        return self._audit_registers().record_risk_fact(body, bureau)

    @rpc
    def list_audit_plans(
        self, filters: dict | None = None, limit: int = 50, after: list | None = None
    ) -> list[dict]:
        """Plans, newest first: ``bureau``, ``kind``, ``year`` filters."""
        return self._audit_registers().list_plans(filters or {}, limit, after)

    @rpc
    def draw_audit_plan(self, bureau: str, body: dict) -> dict:
        return self._audits().draw(bureau, body)

    @rpc
    def audit_command(
        self,
        plan_id: str,
        command: str,
        body: dict | None = None,
        bureau: str | None = None,
        expected_version: int | None = None,
    ) -> dict:
        """``findings``, ``rectification-orders``, ``verify`` (``bureau``: the caller's)."""
        return self._audits().command(plan_id, command, body, bureau, expected_version)

    @rpc
    def get_audit_plan(self, plan_id: str, bureau: str | None = None) -> dict:
        return self._audits().get(plan_id, bureau)

    @rpc
    def audit_coverage(self, query: dict | None = None) -> dict:
        """The yearly minimum of audits per bureau and kind: ``query`` {year?, kind?, bureau?}
        (the gateway forces a district officer's own bureau)."""
        return self._audits().coverage(query or {})

    @rpc
    def public_audits(
        self, bureau: str | None = None, limit: int = 50, after: list | None = None
    ) -> list[dict]:
        return self._audits().public(bureau, limit, after)

    # --- time ---------------------------------------------------------------------------

    @timer(interval=SWEEP_SECONDS)
    def sweep(self) -> None:
        done = self.sweep_now()
        if any(done.values()):
            log.info("sweep: %s", done)

    @rpc
    def sweep_now(self) -> dict:
        """Everything time makes due, by the injectable clock: deemed acceptance, deadline
        recomputation, licence reminders/renewals/expiry, overdue rectification orders.
        Idempotent; each sweep handles a bounded batch per run and continues where it stopped."""
        repo, now = self.repository(), self.clock.now()
        return {name: sweep.run(repo, now) for name, sweep in self.rules.sweeps.items()}
