"""The noticeboard service: wiring only (rules in ``domain``, rows in ``projections``)."""

from __future__ import annotations

from pathlib import Path

from infra.bus.dependencies import ServiceDatabase, UnitOfWork
from infra.bus.entrypoints import rpc
from infra.schemas import load
from infra.service import KernelService
from infra.sweep import Sweep
from tests.kit_example.noticeboard import domain, schemas
from tests.kit_example.noticeboard.projections import KINDS, READ_MODELS, boards_with_expired

MIGRATIONS = Path(__file__).parent / "migrations"


class NoticeboardService(KernelService):
    name = "noticeboard"
    db: UnitOfWork = ServiceDatabase(migrations=MIGRATIONS)
    kinds = KINDS
    read_models = READ_MODELS
    expiry = Sweep("expiry", domain.Board, boards_with_expired, domain.unpin_expired, dated=True)

    @rpc
    def pin(self, body: dict, command_id: str | None = None) -> dict:
        data = load(schemas.PinIn, body, "notice")
        command = domain.PinNotice(actor=self.repository().actor, **data)
        return self._decide(data["board"], command, command_id)

    @rpc
    def unpin(self, body: dict, command_id: str | None = None) -> dict:
        data = load(schemas.UnpinIn, body, "unpin")
        board = data.pop("board")
        command = domain.UnpinNotice(actor=self.repository().actor, **data)
        return self._decide(board, command, command_id, must_exist="board")

    @rpc
    def sweep_now(self) -> dict:
        """Unpin expired notices (a ``@timer`` calls this in a real service; tests move the
        clock and call it)."""
        return {"unpinned": self.expiry.run(self.repository(), self.clock.now())}

    def _decide(
        self, key: str, command: domain.Command, command_id: str | None, must_exist=None
    ) -> dict:
        repo = self.repository()
        board = repo.load(domain.Board, key, must_exist=must_exist)
        repo.decide_and_save(key, board, command, self.clock.now(), command_id=command_id)
        return {"board": key, "version": board.version, "pinned": len(board.pinned)}
