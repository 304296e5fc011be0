"""Demo data for `make run` on an empty data directory (SESP_DEMO=1, the default).

Each registered service may name a demo loader (``ServiceSpec.demo``); they run in start
order, through the services' RPC, once every service answers ``ping``. A loader that fails is
tried again (each second, for two minutes); one that has loaded is not run again.
"""

from __future__ import annotations

import logging

from infra import registry, settings

log = logging.getLogger("sesp.demo")


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
            for spec in registry.services():
                getattr(rpc, spec.name).ping()
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


def main() -> None:
    import time

    log.info("demo data: loading once every service answers")
    done: set[str] = set()
    for _ in range(120):
        why = load_demo(done)
        if why is None:
            return
        time.sleep(1)
    log.error("demo data: not loaded within two minutes (%s)", why)
    raise SystemExit(1)


if __name__ == "__main__":
    import signal

    import eventlet

    from infra.logs import configure_logging

    eventlet.monkey_patch()
    configure_logging("demo")
    # Ctrl-C at a terminal reaches this process too: end quietly (the runner stops it anyway).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    main()
