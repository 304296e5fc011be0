"""Demo data for `make run` on an empty data directory (SESP_DEMO=1, the default).

Two phases, each running the registered services' loaders in start order through their RPC,
once every service answers ``ping``:

1. **History** (``ServiceSpec.demo_history``: ``f(rpc, clock)``). The runner hands this
   process a clock file (``--clock PATH``) that every process it started reads as *now*
   (``SESP_CLOCK_FILE``, ``infra.clock``). When the stores of the services with demo data are
   still empty, the clock is set to the start of the history (``history_start``: 2 January
   of last year, or of the year before in January to March, so that a whole evaluated
   year lies behind), and the loaders move it forward (``DemoClock.set``) as they record a
   year and more of facts, decisions and evaluations through the ordinary commands. Each
   loader runs once; one that fails ends the phase (logged as an error). Whatever happens,
   the clock file is emptied at the end: real time again for every process. Without a
   clock of its own (no ``--clock``, or stores holding data already) the clock stays real
   and the loaders do what they can at real time.
2. **Today** (``ServiceSpec.demo``: ``f(rpc)``): at real time. A loader that fails is tried
   again (each second, for two minutes); one that has loaded is not run again.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from infra import registry, settings
from infra.clock import CHINA_STANDARD_TIME, Clock

log = logging.getLogger("sesp.demo")


def history_start(today: date) -> datetime:
    """When the demo's history starts: 09:00 on 2 January of the year the demo evaluates
    (last year; from January to March, the year before, so that the evaluated year's
    objection period and what follows it lie in the past too)."""
    year = today.year - 1 if today.month > 3 else today.year - 2
    return datetime.combine(date(year, 1, 2), time(9), CHINA_STANDARD_TIME)


class DemoClock:
    """The platform's *now* while demo data loads: the file every process reads
    (``SESP_CLOCK_FILE``), moved forward by the history loaders. ``movable`` is false when
    the demo has no clock of its own or loads at real time: then ``set`` changes nothing and
    ``now`` is real time."""

    def __init__(self, path: str | Path | None = None, movable: bool = False):
        self.path = Path(path) if path else None
        self.movable = movable and self.path is not None
        self.start = history_start(Clock().today())
        self._at: datetime | None = None

    def now(self) -> datetime:
        if self.movable and self._at is not None:
            return self._at
        return datetime.now(CHINA_STANDARD_TIME)

    def set(self, moment: datetime) -> datetime:
        """Move the platform's clock to ``moment`` (never back, never beyond real now)."""
        if not self.movable or self.path is None:
            return self.now()
        moment = min(moment, datetime.now(CHINA_STANDARD_TIME) - timedelta(minutes=1))
        if self._at is not None:
            moment = max(moment, self._at)
        self.path.write_text(moment.isoformat())
        self._at = moment
        return moment

    def resume(self) -> None:
        """Real time again, for every process: the file is emptied (``infra.clock`` reads an
        empty file as real now)."""
        if self.path is not None:
            self.path.write_text("")
        self.movable = False


def _services_answer(rpc: Any) -> None:
    for spec in registry.services():
        getattr(rpc, spec.name).ping()


def _stores_empty(rpc: Any) -> bool:
    """Whether no service that loads demo data holds an event yet."""
    return all(
        getattr(rpc, spec.name).read_all(0, 1)["head"] == 0
        for spec in registry.services()
        if spec.demo or spec.demo_history
    )


def load_history(rpc: Any, clock: DemoClock) -> None:
    """Phase 1 (see the module): every ``demo_history`` loader once, in start order; the
    clock is real time again at the end, whatever happens."""
    try:
        if clock.movable and _stores_empty(rpc):
            clock.set(clock.start)
            log.info("demo history: from %s", clock.start.date().isoformat())
        else:
            clock.resume()
        for spec in registry.services():
            loader = spec.demo_history_loader()
            if loader is not None:
                log.info("demo history: %s %s", spec.name, loader(rpc, clock))
    except Exception:
        log.exception("demo history: not loaded (stopped at %s)", clock.now().isoformat())
    finally:
        clock.resume()


def load_demo(done: set[str] | None = None) -> str | None:
    """Run every service's demo loader not in ``done`` (the names of those that have loaded
    are added to it) if the services answer. ``None`` when all have loaded, else why not."""
    from nameko.standalone.rpc import ClusterRpcProxy

    from infra.errors import register_remote_errors

    # Loaders receive the services' refusals as their classes (NotFound, ...), as every
    # other caller does.
    register_remote_errors()
    done = set() if done is None else done
    try:
        with ClusterRpcProxy(settings.nameko_config(), timeout=10) as rpc:
            _services_answer(rpc)
            for spec in registry.services():
                loader = spec.demo_loader()
                if loader is not None and spec.name not in done:
                    log.info("demo data: %s %s", spec.name, loader(rpc))
                    done.add(spec.name)
    except Exception as exc:  # services still starting: try again on the next tick
        why = f"{type(exc).__name__}: {exc}"
        log.debug("demo data: not loaded yet (%s)", why)
        return why
    return None


def _history(clock: DemoClock) -> None:
    """Phase 1 once every service answers (each second, for two minutes)."""
    import time as wall

    from nameko.standalone.rpc import ClusterRpcProxy

    from infra.errors import register_remote_errors

    register_remote_errors()
    try:
        for _ in range(120):
            try:
                with ClusterRpcProxy(settings.nameko_config(), timeout=30) as rpc:
                    _services_answer(rpc)
                    load_history(rpc, clock)
                    return
            except Exception as exc:  # services still starting
                log.debug("demo history: services not answering yet (%s)", exc)
                wall.sleep(1)
        log.error("demo history: not loaded: the services did not answer within two minutes")
    finally:
        clock.resume()


def main(argv: list[str] | None = None) -> None:
    import argparse
    import time as wall

    parser = argparse.ArgumentParser(prog="python -m infra.demo")
    parser.add_argument("--clock", help="the clock file every process reads (the runner's)")
    args = parser.parse_args(argv)
    log.info("demo data: loading once every service answers")
    started = wall.monotonic()
    _history(DemoClock(args.clock, movable=bool(args.clock)))
    done: set[str] = set()
    for _ in range(120):
        why = load_demo(done)
        if why is None:
            log.info("demo data loaded in %.1f s", wall.monotonic() - started)
            return
        wall.sleep(1)
    log.error("demo data: not loaded within two minutes (%s)", why)
    raise SystemExit(1)


if __name__ == "__main__":
    import signal
    import sys

    import eventlet

    from infra.logs import configure_logging

    eventlet.monkey_patch()
    configure_logging("demo")
    # Ctrl-C at a terminal reaches this process too: end quietly (the runner stops it anyway,
    # and empties the clock file).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    main(sys.argv[1:])
