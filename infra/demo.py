"""Demo data for `make run` on an empty data directory (SESP_DEMO=1, the default).

For now: a few hundred elevators registered across the districts (the licensing service's
walking skeleton). Later issues add delegations, applications in every status, licences, units.
"""

from __future__ import annotations

import random

from infra import settings

DISTRICTS = [
    "310101",
    "310104",
    "310105",
    "310106",
    "310107",
    "310109",
    "310110",
    "310112",
    "310113",
    "310114",
    "310115",
    "310116",
    "310117",
    "310118",
    "310120",
    "310151",
]


def load_demo(elevators: int = 300) -> bool:
    """Register the demo elevators if licensing answers. True when done."""
    from nameko.standalone.rpc import ClusterRpcProxy

    try:
        with ClusterRpcProxy(settings.nameko_config(), timeout=10) as rpc:
            rpc.licensing.ping()
            rng = random.Random(2014)
            for i in range(elevators):
                district = rng.choice(DISTRICTS)
                in_ftz = district == "310115" and rng.random() < 0.2
                code = f"3110{rng.randrange(100000):05d}{rng.randrange(1995, 2015)}{i:05d}"
                # A fixed event id per demo elevator: re-running the loader changes nothing.
                rpc.licensing.register_equipment(
                    code, district, in_ftz, event_id=f"00000000-0000-4000-8000-{i:012d}"
                )
            from services.licensing.demo import load_licensing_demo

            print(f"demo data: licensing {load_licensing_demo(rpc)}", flush=True)
    except Exception as exc:  # services still starting: try again on the next tick
        print(f"demo data: waiting for services ({type(exc).__name__})", flush=True)
        return False
    print(f"demo data: {elevators} elevators registered", flush=True)
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
