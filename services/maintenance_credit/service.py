"""Maintenance-credit service (DOMAIN.md, API.md). Skeleton: kernel wiring only."""

from __future__ import annotations

from infra.bus.dependencies import ServiceDatabase, UnitOfWork
from infra.service import KernelService


class MaintenanceCreditService(KernelService):
    name = "maintenance_credit"
    db: UnitOfWork = ServiceDatabase()
