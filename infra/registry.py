"""The one list of the platform's services, read by the runner, settings, ``sesp``, demo
loading, the gateway's readiness check and the tests.

A service announces itself with an entry point in ``pyproject.toml``::

    [project.entry-points."sesp.services"]
    licensing = "services.licensing:SERVICE"

naming a ``ServiceSpec`` in its package's ``__init__`` (which imports nothing heavy). The
kernel never imports a service by name: it loads what the entry points name, so adding a
service is a package plus one line there (``docs/adding-a-service.md``). Tests can add a
spec at run time with ``register``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

GROUP = "sesp.services"


@dataclass(frozen=True)
class ServiceSpec:
    """A service as the platform runs it.

    ``target``: ``module:Class`` of its nameko service; ``order``: start order (sources of
    events before their consumers); ``demo``: ``module:function`` taking a ``ClusterRpcProxy``
    and loading demo data at real time, returning a summary; ``demo_history``: the same taking
    also the demo's clock (``infra.demo.DemoClock``), loading the demo's past before every
    ``demo`` runs; ``cli``: ``module:command``, a click command
    or group ``sesp`` mounts; ``process_only``: a process without an event
    store of its own (the gateway)."""

    name: str
    target: str
    order: int = 50
    demo: str | None = None
    demo_history: str | None = None
    cli: str | None = None
    process_only: bool = False

    def service_class(self) -> type:
        return _load(self.target)

    def demo_loader(self) -> Any:
        return _load(self.demo) if self.demo else None

    def demo_history_loader(self) -> Any:
        return _load(self.demo_history) if self.demo_history else None

    def cli_command(self) -> Any:
        return _load(self.cli) if self.cli else None


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


_extra: dict[str, ServiceSpec] = {}


def register(spec: ServiceSpec) -> None:
    """Add a service at run time (tests that build a service from the kit)."""
    _extra[spec.name] = spec


def unregister(name: str) -> None:
    _extra.pop(name, None)


def processes() -> list[ServiceSpec]:
    """Every registered process (services and the gateway), in start order."""
    specs = {ep.name: ep.load() for ep in entry_points(group=GROUP)}
    specs.update(_extra)
    for name, spec in specs.items():
        if not isinstance(spec, ServiceSpec) or spec.name != name:
            raise RuntimeError(f"entry point {name!r} of {GROUP} does not name its ServiceSpec")
    return sorted(specs.values(), key=lambda s: (s.order, s.name))


def services() -> list[ServiceSpec]:
    """The services with an event store of their own, in start order."""
    return [s for s in processes() if not s.process_only]


def names() -> list[str]:
    return [s.name for s in services()]


def spec(name: str) -> ServiceSpec:
    for s in processes():
        if s.name == name:
            return s
    known = ", ".join(s.name for s in processes())
    raise KeyError(f"no service called {name!r} is registered (known: {known})")
