"""The ``Inspector`` aggregate: one entry of a bureau's inspector list (its organization is what
makes a conflict in the draw)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.domain import Command, RuleConflict, text

from ..common import Event
from .commands import RegisterInspector
from .events import InspectorRegistered


@dataclass
class Inspector:
    inspector_id: str | None = None
    bureau: str | None = None
    name: str | None = None
    organization_uscc: str | None = None
    version: int = 0

    def decide(self, command: Command, now: Any) -> list[Event]:
        if not isinstance(command, RegisterInspector):
            raise RuleConflict(f"{type(command).__name__} does not apply to an inspector")
        if self.version:
            raise RuleConflict(f"inspector {self.inspector_id} is registered already")
        return [
            InspectorRegistered(
                at=now,
                actor=command.actor,
                inspector_id=text(command.inspector_id, "inspector_id"),
                bureau=command.bureau,
                name=text(command.name, "name"),
                organization_uscc=command.organization_uscc,
            )
        ]

    def apply(self, event: Event) -> None:
        if isinstance(event, InspectorRegistered):
            self.inspector_id, self.bureau = event.inspector_id, event.bureau
            self.name, self.organization_uscc = event.name, event.organization_uscc
        self.version += 1
