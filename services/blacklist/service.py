"""blacklist service (rules in DOMAIN.md; endpoints in API.md). Skeleton: kernel wiring only."""

from __future__ import annotations

from infra.bus.dependencies import ServiceDatabase, UnitOfWork
from infra.service import KernelService


class BlacklistService(KernelService):
    name = "blacklist"
    db: UnitOfWork = ServiceDatabase()
