"""Upcasters turn old event (and snapshot) versions into the current one on read.

Stored events are never rewritten: an upcaster is a pure function from the data of version N
to the data of version N+1, registered per event type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Upcasters:
    def __init__(self) -> None:
        self._chain: dict[tuple[str, int], Upcaster] = {}

    def register(self, type_: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator: ``@upcasters.register("LicenceIssued", 1)`` turns v1 data into v2."""

        def deco(fn: Upcaster) -> Upcaster:
            self._chain[(type_, from_version)] = fn
            return fn

        return deco

    def upcast(self, type_: str, version: int, data: dict[str, Any]) -> tuple[int, dict]:
        while (type_, version) in self._chain:
            data = self._chain[(type_, version)](data)
            version += 1
        return version, data
