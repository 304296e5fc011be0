"""What every SESP service has: its database, clock, request context and a ping."""

from __future__ import annotations

from infra.bus.context import RequestContext
from infra.bus.dependencies import ClockProvider, UnitOfWork
from infra.bus.entrypoints import rpc
from infra.errors import register_remote_errors

register_remote_errors()


class KernelService:
    """Base for service classes. Subclasses set ``name`` and
    ``db: UnitOfWork = ServiceDatabase(...)``: nameko hands each worker a UnitOfWork in the
    provider's place, so that is what methods see."""

    name = "kernel"
    db: UnitOfWork  # declared only: each subclass sets its own provider
    clock = ClockProvider()
    ctx = RequestContext()

    @rpc
    def ping(self) -> dict:
        """Readiness probe used by the gateway's /readyz."""
        return {"service": self.name, "ok": True}

    @rpc
    def read_stream(self, stream_id: str, after_version: int = 0) -> list[dict]:
        """Events of one stream as published messages (personal fields stay encrypted):
        lets a consumer that missed history fetch it."""
        return [
            ev.to_message(self.name)
            for ev in self.db.store.read_stream(
                self.db.conn, stream_id, after_version, decrypt=False
            )
        ]
