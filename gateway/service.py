"""The gateway: the one HTTP entry to the platform (nameko service ``gateway``).

Its routes live in ``gateway.routes`` as mixin classes; adding an area means writing a module
there and adding its class to the bases below. Everything a route needs from the edge
(authentication, roles, body limits, validation, idempotency, problem+json, metrics, logs)
is done by ``gateway.routing`` and ``gateway.web`` before the route method runs.

Run it with ``python -m infra.runner service gateway`` (``make run`` starts it with the rest).
"""

from __future__ import annotations

import logging

from nameko.rpc import rpc as nameko_rpc
from nameko.timer import timer

from gateway.routes.admin import AdminRoutes, UsccExceptionRoutes
from gateway.routes.audits import AuditRoutes
from gateway.routes.blacklist import BlacklistRoutes
from gateway.routes.complaints import ComplaintRoutes
from gateway.routes.credit import CreditRoutes
from gateway.routes.equipment import EquipmentRoutes
from gateway.routes.insurance import InsuranceRoutes
from gateway.routes.licensing import LicensingRoutes
from gateway.routes.ops import OpsRoutes
from gateway.routes.public_equipment import PublicEquipmentRoutes
from infra.eventstore.db import truncate_wal

log = logging.getLogger("sesp.gateway")


class GatewayService(
    OpsRoutes,
    AdminRoutes,
    UsccExceptionRoutes,
    LicensingRoutes,
    EquipmentRoutes,
    AuditRoutes,
    InsuranceRoutes,
    CreditRoutes,
    BlacklistRoutes,
    PublicEquipmentRoutes,
    ComplaintRoutes,
):
    name = "gateway"

    @timer(interval=3600)
    def purge_idempotency_records(self) -> None:
        """Forget stored responses older than 24 hours."""
        purged = self.gateway.idempotency.purge_expired()
        if purged:
            log.info("purged %d expired idempotency records", purged)

    @nameko_rpc
    def erase_person(self, presented: str) -> dict:
        """``sesp erase``: drop the stored responses of Idempotency-Key requests that named the
        person (by ID number); their keys then answer 410."""
        dropped = self.gateway.idempotency.erase_person(presented)
        scrubbed = truncate_wal(self.gateway.engine) if dropped else True
        return {"service": self.name, "erased": [], "responses": dropped, "scrubbed": scrubbed}
