"""Demo data for `make run` on an empty data directory (SESP_DEMO=1, the default).

Each registered service may name a demo loader (``ServiceSpec.demo``); they run in start
order, through the services' RPC, once every service answers ``ping``.
"""

from __future__ import annotations

import logging

from infra import registry, settings

log = logging.getLogger("sesp.demo")


def load_demo() -> bool:
    """Run every service's demo loader if the services answer. True when done."""
    from nameko.standalone.rpc import ClusterRpcProxy

    try:
        with ClusterRpcProxy(settings.nameko_config(), timeout=10) as rpc:
            for spec in registry.services():
                getattr(rpc, spec.name).ping()
            for spec in registry.services():
                loader = spec.demo_loader()
                if loader is not None:
                    log.info("demo data: %s %s", spec.name, loader(rpc))
    except Exception as exc:  # services still starting: try again on the next tick
        log.debug("demo data: waiting for services (%s)", type(exc).__name__)
        return False
    return True


def main() -> None:
    import time

    log.info("demo data: loading once every service answers")
    for _ in range(120):
        if load_demo():
            return
        time.sleep(1)
    log.error("demo data: the services did not answer within two minutes")
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
