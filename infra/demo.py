"""Demo data for `make run` on an empty data directory (SESP_DEMO=1, the default).

Each registered service may name a demo loader (``ServiceSpec.demo``); they run in start
order, through the services' RPC, once every service answers ``ping``.
"""

from __future__ import annotations

from infra import registry, settings


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
                    print(f"demo data: {spec.name} {loader(rpc)}", flush=True)
    except Exception as exc:  # services still starting: try again on the next tick
        print(f"demo data: waiting for services ({type(exc).__name__})", flush=True)
        return False
    return True


def main() -> None:
    import time

    for _ in range(120):
        if load_demo():
            return
        time.sleep(1)
    raise SystemExit("demo data: the services did not answer within two minutes")


if __name__ == "__main__":
    import eventlet

    eventlet.monkey_patch()
    main()
