"""Process runner.

``python -m infra.runner service NAME`` runs one registered process (``infra.registry``; or
``MODULE:CLASS``) in this process. ``python -m infra.runner all`` (``make run``) starts every
registered process (the services and the gateway), each in its own process, restarts any that
crashes, loads demo data into an empty data directory, prints the URL, and stops everything
on Ctrl-C or SIGTERM.

stdout carries the few lines for the person at the terminal (the URL, the token, "stopping…");
stderr is the JSON log of every process (``infra.logs``).
"""

from __future__ import annotations

import sys
from pathlib import Path


def run_service(target: str) -> None:
    import infra  # noqa: F401, I001  (first: it quiets eventlet's import-time warning)
    import eventlet

    eventlet.monkey_patch()
    import gc
    import importlib
    import logging
    import signal

    from nameko.runners import ServiceRunner

    from infra import registry, settings
    from infra.logs import configure_logging

    if ":" in target:
        module, _, cls_name = target.partition(":")
        cls = getattr(importlib.import_module(module), cls_name)
    else:
        cls = registry.spec(target).service_class()
    configure_logging(cls.name)
    runner = ServiceRunner(settings.nameko_config(cls.name))
    runner.add_service(cls)

    log = logging.getLogger("sesp")
    stopping: list[int] = []

    def shutdown(signum, frame):
        # Ctrl-C at a terminal reaches every process of the group, and ``run_all`` then sends
        # SIGTERM too: stop once (nameko's stop is not safe to run twice).
        if not stopping:
            stopping.append(signum)
            eventlet.spawn_n(stop)

    def stop() -> None:
        log.info("service %s stopping…", cls.name)
        runner.stop()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    runner.start()
    # Everything built so far (modules, the container, its extensions) lives as long as the
    # process: move it out of the cyclic collector's sight, so that the full collections a
    # request's many short-lived dicts trigger do not walk it again and again (about 8% of
    # the insurance service's CPU during an insurer sync).
    gc.collect()
    gc.freeze()
    log.info("service %s started", cls.name)
    runner.wait()
    log.info("service %s stopped", cls.name)


def run_all() -> None:
    import logging
    import os
    import signal
    import subprocess
    import time

    from infra import registry, settings
    from infra.logs import configure_logging

    configure_logging("runner")
    log = logging.getLogger("sesp.runner")

    data = settings.data_dir()
    fresh, demo_clock = demo_plan(data)
    procs: dict[str, subprocess.Popen] = {}
    stopping = False

    def start(name: str) -> None:
        procs[name] = subprocess.Popen([sys.executable, "-m", "infra.runner", "service", name])

    def stop(signum=None, frame=None):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    admin_token = os.environ.get("SESP_ADMIN_TOKEN")
    if not admin_token:
        # A city_admin token for this run only, so a newcomer can call the API at once.
        import secrets

        admin_token = os.environ["SESP_ADMIN_TOKEN"] = "sesp_dev_" + secrets.token_urlsafe(24)
    demo_args: list[str] = []
    if demo_clock is not None:
        os.environ["SESP_CLOCK_FILE"] = str(demo_clock)
        demo_args = ["--clock", str(demo_clock)]
    for spec in registry.processes():
        start(spec.name)
    url = f"http://127.0.0.1:{settings.gateway_port()}"
    print(
        f"SESP is starting: gateway at {url} (API docs at {url}/docs). Ctrl-C stops it.", flush=True
    )
    print(f"city_admin token for this run (SESP_ADMIN_TOKEN): {admin_token}", flush=True)
    print(f"  try: curl -H 'Authorization: Bearer {admin_token}' {url}/v1/delegations", flush=True)
    demo = subprocess.Popen([sys.executable, "-m", "infra.demo", *demo_args]) if fresh else None
    restarts: dict[str, list[float]] = {}
    while not stopping:
        time.sleep(0.5)
        if demo is not None and demo.poll() is not None and demo_clock is not None:
            real_time_again(demo_clock)
            demo_clock = None
        for name, proc in list(procs.items()):
            if proc.poll() is not None and not stopping:
                recent = [t for t in restarts.get(name, []) if time.time() - t < 60]
                restarts[name] = recent + [time.time()]
                delay = min(2 ** len(recent), 30)
                log.warning("%s exited with %s; restarting in %ds", name, proc.returncode, delay)
                # A Ctrl-C during the back-off stops at once, without starting it again.
                until = time.time() + delay
                while not stopping and time.time() < until:
                    time.sleep(0.2)
                if not stopping:
                    start(name)
    print("SESP is stopping…", flush=True)
    children = {**procs, "demo": demo} if demo is not None else dict(procs)
    for proc in children.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.time() + 15
    for name, proc in children.items():
        try:
            proc.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within 15 s: killed", name)
            proc.kill()
    if demo_clock is not None:
        real_time_again(demo_clock)
    print("SESP stopped.", flush=True)


def demo_plan(data: Path) -> tuple[bool, Path | None]:
    """Whether to load demo data (an empty data directory, ``SESP_DEMO=1``), and the clock
    file its past is loaded under (``infra.demo``): every process the runner starts reads the
    platform's clock from it, the demo moves it through last year and empties it (real time)
    once loaded. None when the operator names a clock file (``SESP_CLOCK_FILE``) and on a
    later start (the data directory holds data then: real time, no demo)."""
    import os

    from infra import settings

    fresh = not any(data.glob("*.db")) and settings.demo_enabled()
    if not fresh or os.environ.get("SESP_CLOCK_FILE"):
        return fresh, None
    clock = data / "demo-clock"
    clock.write_text("")
    return True, clock


def real_time_again(clock_file: Path) -> None:
    """Empty the demo's clock file (``infra.clock`` reads an empty file as real now), should
    the demo have ended, or been stopped, without doing so itself."""
    import logging

    if clock_file.exists() and clock_file.read_text().strip():
        logging.getLogger("sesp.runner").warning(
            "demo data: the demo ended with the clock in the past; real time again"
        )
        clock_file.write_text("")


def main(argv: list[str]) -> None:
    if len(argv) >= 2 and argv[0] == "service":
        run_service(argv[1])
    elif argv[:1] == ["all"]:
        run_all()
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
