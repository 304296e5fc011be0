"""The noticeboard's rules: a board (one aggregate), pin and unpin (two commands), pinned and
unpinned (two events). Pure: standard library and ``infra.domain`` only."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime

from infra import domain
from infra.clock import local_date

MAX_PINNED = 20


@dataclass(frozen=True)
class Notice:
    number: int
    title: str
    expires_on: date
    pinned: bool = True


# --- commands -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PinNotice(domain.Command):
    board: str
    title: str
    expires_on: date


@dataclass(frozen=True, kw_only=True)
class UnpinNotice(domain.Command):
    number: int
    reason: str = "withdrawn"


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NoticePinned(domain.Event):
    """A notice went up on the board; it stays until it is unpinned or expires."""

    board: str
    notice: Notice


@dataclass(frozen=True, kw_only=True)
class NoticeUnpinned(domain.Event):
    """A notice came off the board: withdrawn by someone, or expired (by the sweep)."""

    number: int
    reason: str


EVENTS = domain.event_types(NoticePinned, NoticeUnpinned)


# --- the aggregate --------------------------------------------------------------------------


@dataclass
class Board(domain.Aggregate):
    kind_name = "board"
    # The board's own name: read-model rows are written from the state alone.
    name: str = ""
    notices: tuple[Notice, ...] = ()
    version: int = 0

    def decide(self, command: domain.Command, now: datetime) -> list[domain.Event]:
        stamp: domain.Stamp = {"at": now, "actor": command.actor}
        if isinstance(command, PinNotice):
            if command.expires_on < local_date(now):
                raise domain.Invalid("expires_on", "must not be in the past")
            if len(self.pinned) >= MAX_PINNED:
                raise domain.RuleConflict(f"board {command.board} is full")
            notice = Notice(len(self.notices) + 1, command.title, command.expires_on)
            return [NoticePinned(**stamp, board=command.board, notice=notice)]
        if isinstance(command, UnpinNotice):
            if not 0 < command.number <= len(self.notices):
                raise domain.NotKnown(f"notice {command.number} is not on board {self.name}")
            if not self.notices[command.number - 1].pinned:
                raise domain.RuleConflict(f"notice {command.number} is unpinned already")
            return [NoticeUnpinned(**stamp, number=command.number, reason=command.reason)]
        raise TypeError(f"a board does not take {type(command).__name__}")

    def apply(self, event: domain.Event) -> None:
        if isinstance(event, NoticePinned):
            self.name = event.board
            self.notices += (event.notice,)
        elif isinstance(event, NoticeUnpinned):
            i = event.number - 1
            unpinned = dataclasses.replace(self.notices[i], pinned=False)
            self.notices = self.notices[:i] + (unpinned,) + self.notices[i + 1 :]
        self.version += 1

    @property
    def pinned(self) -> list[Notice]:
        return [n for n in self.notices if n.pinned]


def unpin_expired(board: Board, now: datetime) -> UnpinNotice | None:
    """The sweep's rule: a notice past its day comes off (one per run and board)."""
    today = local_date(now)
    expired = [n for n in board.pinned if n.expires_on < today]
    if not expired:
        return None
    return UnpinNotice(actor=domain.SYSTEM_ACTOR, number=expired[0].number, reason="expired")
