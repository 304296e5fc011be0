"""What every SESP service has: its database, clock, request context and a ping."""

from __future__ import annotations

from nameko.extensions import DependencyProvider

from infra.bus.context import RequestContext
from infra.bus.dependencies import ClockProvider, UnitOfWork
from infra.bus.entrypoints import rpc
from infra.errors import register_remote_errors

register_remote_errors()


class ReplayProgress(DependencyProvider):
    """How far a rebuild of the read models has got, shared by the service's workers, so
    ``sesp replay`` can draw a progress bar while the ``replay`` RPC works. (Not ``start``
    and ``stop``: those are every extension's lifecycle hooks.)"""

    def setup(self) -> None:
        self.state = {"run": 0, "running": False, "done": 0, "total": 0}

    def get_dependency(self, worker_ctx) -> ReplayProgress:
        return self

    def begin(self, total: int) -> None:
        self.state = {"run": self.state["run"] + 1, "running": True, "done": 0, "total": total}

    def at(self, done: int) -> None:
        self.state["done"] = done

    def end(self) -> None:
        self.state["running"] = False


class KernelService:
    """Base for service classes. Subclasses set ``name`` and
    ``db: UnitOfWork = ServiceDatabase(...)``: nameko hands each worker a UnitOfWork in the
    provider's place, so that is what methods see."""

    name = "kernel"
    db: UnitOfWork  # declared only: each subclass sets its own provider
    clock = ClockProvider()
    ctx = RequestContext()
    progress = ReplayProgress()

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

    @rpc
    def replay_progress(self) -> dict:
        """``{"run", "running", "done", "total"}`` of the current (or last) rebuild of the
        read models; ``run`` counts rebuilds since the process started."""
        return dict(self.progress.state)
